"""Benchmark the BG/NBD and Gamma-Gamma fits against ``lifetimes``.

Data: the published 2,357-customer CDNOW calibration summary (weeks) from
tests/fixtures/cdnow, tiled to N customers (1,001,725 = 425 copies, and the
first 100,000 rows of the tiling).  Tiling leaves the MLE unchanged, so every
size must give the published parameters.

Method: every measurement (implementation x model x size x repeat) runs in a
fresh subprocess that loads the data, records ``resource.getrusage(RUSAGE_SELF)
.ru_maxrss`` (peak RSS so far, i.e. interpreter + imports + data), times the
fit with ``time.perf_counter`` and records ``ru_maxrss`` again.  Peak RSS is
therefore a process-level figure that includes native (Polars/NumPy)
allocations, which tracemalloc would partly miss; "fit delta" is the growth
of the peak caused by the fit itself.

``lifetimes`` is never a project dependency: its half runs only when a
Python with lifetimes installed is given, e.g.

    python3 -m venv /tmp/lifetimes-venv
    /tmp/lifetimes-venv/bin/pip install lifetimes "pandas<2.2" "numpy<2" "scipy<1.14"
    .venv/bin/python bench/bench_models.py --lifetimes-python /tmp/lifetimes-venv/bin/python

(or set LIFETIMES_PYTHON).  Without it only our fits are measured.

This file must stay importable by the lifetimes venv (no Polars there): the
worker imports ``models`` only for our own implementation.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
FIXTURE = REPO / "tests" / "fixtures" / "cdnow" / "cdnow_customers_summary_with_transactions.csv"
SIZES = (100_000, 1_001_725)
IMPLS = ("ours", "ours-nocollapse", "lifetimes")
MODELS = ("bgnbd", "gg")


def _max_rss_mib() -> float:
    # Linux reports ru_maxrss in KiB.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def load_tiled(n: int) -> dict[str, np.ndarray]:
    """CDNOW summary tiled to ``n`` rows (x, t_x, T, zbar as float arrays)."""
    with open(FIXTURE, newline="", encoding="ascii") as fh:
        rows = list(csv.DictReader(fh))
    base = {k: np.array([float(r[k]) for r in rows]) for k in ("x", "t_x", "T", "zbar")}
    reps = -(-n // len(rows))
    return {k: np.tile(v, reps)[:n] for k, v in base.items()}


def worker(impl: str, model: str, n: int) -> dict:
    """One measurement in this (fresh) process; returns a JSON-able dict."""
    data = load_tiled(n)
    if impl.startswith("ours"):
        from models.bgnbd import fit_bgnbd
        from models.gamma_gamma import fit_gamma_gamma

        collapse = impl == "ours"
        rss_before = _max_rss_mib()
        t0 = time.perf_counter()
        if model == "bgnbd":
            fitted = fit_bgnbd(data["x"], data["t_x"], data["T"], collapse=collapse)
            params = fitted.params
        else:
            # Includes dropping x == 0 rows, which lifetimes users do beforehand.
            fitted = fit_gamma_gamma(data["x"], data["zbar"], collapse=collapse)
            params = fitted.params
        seconds = time.perf_counter() - t0
    else:
        import pandas as pd
        from lifetimes import BetaGeoFitter, GammaGammaFitter

        if model == "bgnbd":
            f, r, T = (pd.Series(data[k]) for k in ("x", "t_x", "T"))
            rss_before = _max_rss_mib()
            t0 = time.perf_counter()
            fitted = BetaGeoFitter().fit(f, r, T)
            seconds = time.perf_counter() - t0
            params = {k: float(v) for k, v in fitted.params_.items()}
        else:
            keep = data["x"] > 0
            f, m = pd.Series(data["x"][keep]), pd.Series(data["zbar"][keep])
            rss_before = _max_rss_mib()
            t0 = time.perf_counter()
            fitted = GammaGammaFitter().fit(f, m)
            seconds = time.perf_counter() - t0
            params = {("gamma" if k == "v" else k): float(v) for k, v in fitted.params_.items()}
    return {
        "impl": impl,
        "model": model,
        "rows": n,
        "seconds": seconds,
        "peak_rss_mib": _max_rss_mib(),
        "rss_before_fit_mib": rss_before,
        "params": params,
    }


def measure(python: str, impl: str, model: str, n: int) -> dict:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    out = subprocess.run(
        [python, __file__, "--worker", impl, model, str(n)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def _sig4_equal(a: float, b: float) -> bool:
    return f"{a:.4g}" == f"{b:.4g}"


def run(lifetimes_python: str | None, sizes: tuple[int, ...], repeats: int) -> list[dict]:
    results = []
    for n in sizes:
        for impl in IMPLS:
            if impl == "lifetimes" and not lifetimes_python:
                continue
            if impl == "ours-nocollapse" and n != max(sizes):
                continue
            python = lifetimes_python if impl == "lifetimes" else sys.executable
            for model in MODELS:
                runs = [measure(python, impl, model, n) for _ in range(repeats)]
                res = dict(runs[0])
                res["seconds"] = statistics.median(r["seconds"] for r in runs)
                res["seconds_all"] = [round(r["seconds"], 4) for r in runs]
                res["peak_rss_mib"] = max(r["peak_rss_mib"] for r in runs)
                res["rss_before_fit_mib"] = max(r["rss_before_fit_mib"] for r in runs)
                results.append(res)
                print(
                    f"{impl:16s} {model:6s} n={n:>9,d}  {res['seconds']:.3f}s  "
                    f"peak {res['peak_rss_mib']:.0f} MiB (before fit {res['rss_before_fit_mib']:.0f})  "
                    f"{ {k: round(v, 5) for k, v in res['params'].items()} }",
                    flush=True,
                )
    return results


def compare(results: list[dict]) -> list[dict]:
    """Ratio and 4-significant-digit agreement of ours vs lifetimes."""
    index = {(r["impl"], r["model"], r["rows"]): r for r in results}
    rows = []
    for (impl, model, n), ours in index.items():
        if impl != "ours" or ("lifetimes", model, n) not in index:
            continue
        lt = index[("lifetimes", model, n)]
        rel = {k: abs(ours["params"][k] - lt["params"][k]) / abs(lt["params"][k]) for k in ours["params"]}
        rows.append(
            {
                "model": model,
                "rows": n,
                "ours_s": ours["seconds"],
                "lifetimes_s": lt["seconds"],
                "speedup": lt["seconds"] / ours["seconds"],
                "max_rel_param_diff": max(rel.values()),
                "same_4_sig_digits": all(_sig4_equal(ours["params"][k], lt["params"][k]) for k in rel),
            }
        )
    for row in rows:
        print(
            f"{row['model']:6s} n={row['rows']:>9,d} ours {row['ours_s']:.3f}s lifetimes {row['lifetimes_s']:.3f}s "
            f"x{row['speedup']:.1f}  max rel param diff {row['max_rel_param_diff']:.2e}  "
            f"4 sig digits equal: {row['same_4_sig_digits']}"
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--worker", nargs=3, metavar=("IMPL", "MODEL", "N"), help=argparse.SUPPRESS)
    parser.add_argument("--lifetimes-python", default=os.environ.get("LIFETIMES_PYTHON"))
    parser.add_argument("--sizes", default=",".join(str(s) for s in SIZES))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", type=Path, help="write raw results here")
    args = parser.parse_args()
    if args.worker:
        impl, model, n = args.worker
        print(json.dumps(worker(impl, model, int(n))))
        return
    sizes = tuple(int(s) for s in args.sizes.split(","))
    # Other work on the machine skews timings: record the load around the run.
    load_before = os.getloadavg()
    results = run(args.lifetimes_python, sizes, args.repeats)
    comparison = compare(results)
    load_after = os.getloadavg()
    print(f"load average before {load_before[0]:.2f}, after {load_after[0]:.2f} (1-min); cpus {os.cpu_count()}")
    if args.json:
        payload = {"results": results, "comparison": comparison, "loadavg": [load_before, load_after]}
        args.json.write_text(json.dumps(payload, indent=2))


if __name__ == "__main__":
    main()
