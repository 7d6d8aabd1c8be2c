"""A scoring night at N customers: what the predictions cost when the models are not refitted.

On nights the stored fit is not due (models/refit.py), the predictions step
summarises every customer's orders, checks the stored model's drift since its
fit and scores every customer with the stored parameters
(models.predictions.score_stored). This times those three parts, and one
refit of both models for the ratio, on a synthetic shop drawn from the BG/NBD
process itself (so the stored parameters fit it): N customers, Poisson
purchase rates from Gamma(r, alpha), dropout after each repeat from Beta(a, b),
first orders spread over three years.

    .venv/bin/python bench/bench_scoring.py --customers 1000000 [--no-fit]

Each part is timed once (best of `--repeat`) with time.perf_counter in this
process; results depend on the machine's load, so report it with the numbers.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from models.predictions import drift_since_fit, predict_or_skip, stored_models  # noqa: E402
from models.scoring import score_customers  # noqa: E402
from models.summary import customer_summary  # noqa: E402

# Parameters of the synthetic shop, per day (CDNOW's daily fit, roughly).
R, ALPHA, A, B = 0.24, 30.0, 0.79, 2.4
P, Q, GAMMA = 6.25, 3.74, 15.4
AS_OF = date(2025, 12, 31)
# Days since the stored fit: drift is judged from models.refit.MIN_DRIFT_DAYS on.
DRIFT_DAYS = 10
HISTORY_DAYS = 3 * 365


def synthetic_orders(customers: int, seed: int = 0) -> pl.DataFrame:
    """customer_id, order_date, amount drawn from the BG/NBD + Gamma-Gamma process."""
    rng = np.random.default_rng(seed)
    first = rng.integers(0, HISTORY_DAYS, customers)
    lam = rng.gamma(R, 1.0 / ALPHA, customers)
    drop = rng.beta(A, B, customers)
    spend_scale = rng.gamma(Q, 1.0 / GAMMA, customers)  # nu: mean spend p / nu
    ids, days, amounts = [np.arange(customers)], [first], [rng.gamma(P, 1.0 / spend_scale)]
    alive = np.ones(customers, dtype=bool)
    day = first.astype(float)
    while alive.any():
        idx = np.flatnonzero(alive)
        day[idx] += rng.exponential(1.0 / lam[idx])
        alive[idx] = day[idx] < HISTORY_DAYS
        idx = idx[alive[idx]]
        ids.append(idx)
        days.append(day[idx].astype(np.int64))
        amounts.append(rng.gamma(P, 1.0 / spend_scale[idx]))
        alive[idx] = rng.random(idx.size) >= drop[idx]
    start = AS_OF - timedelta(days=HISTORY_DAYS - 1)
    return pl.DataFrame({
        "customer_id": np.concatenate(ids),
        "order_date": np.concatenate(days),
        "amount": np.round(np.concatenate(amounts), 2),
    }).select(
        pl.format("c{}", pl.col("customer_id")).alias("customer_id"),
        (pl.lit(start) + pl.duration(days=pl.col("order_date"))).cast(pl.Date).alias("order_date"),
        pl.col("amount"),
    ).sort("customer_id", "order_date", "amount")


def best_of(repeat: int, fn):
    best, value = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        value = fn()
        best = min(best, time.perf_counter() - t0)
    return best, value


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--customers", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-fit", action="store_true", help="skip the refit (the slow part) used for the ratio")
    args = ap.parse_args(argv)

    orders = synthetic_orders(args.customers)
    meta = {"bgnbd_r": R, "bgnbd_alpha": ALPHA, "bgnbd_a": A, "bgnbd_b": B, "bgnbd_log_likelihood": 0.0,
            "bgnbd_n_customers": args.customers, "bgnbd_n_fit_rows": 0, "bgnbd_iterations": 0,
            "gg_p": P, "gg_q": Q, "gg_gamma": GAMMA, "gg_log_likelihood": 0.0, "gg_n_customers": 0,
            "gg_frequency_monetary_corr": 0.0}
    bg, gg = stored_models(meta)
    t_summary, summary = best_of(args.repeat, lambda: customer_summary(orders, observation_end=AS_OF))
    t_score, scores = best_of(args.repeat, lambda: score_customers(summary, bg, gg))
    fit_as_of = AS_OF - timedelta(days=DRIFT_DAYS)
    t_drift, drift = best_of(args.repeat, lambda: drift_since_fit(orders, fit_as_of, AS_OF, bg))
    distinct = summary.select("frequency", "T").unique().height
    load = os.getloadavg()
    print(f"scoring night: {args.customers:,} customers, {orders.height:,} orders, {distinct:,} distinct (x, T); "
          f"load {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}, best of {args.repeat}")
    rows = [("customer summary", t_summary), ("score every customer (stored parameters)", t_score),
            (f"drift check since the fit ({DRIFT_DAYS} days; only when refits are rarer than weekly)", t_drift)]
    rows.append(("scoring night, total", t_summary + t_score + t_drift))
    if not args.no_fit:
        t_fit, run = best_of(1, lambda: predict_or_skip(orders, AS_OF))
        rows.append(("refit night (predict_or_skip: both fits, holdout fit, scoring)", t_fit))
    print("| part | seconds |\n|---|---:|")
    for name, seconds in rows:
        print(f"| {name} | {seconds:.3f} |")
    print(f"drift: predicted {drift.predicted:.0f}, actual {drift.actual:.0f}; scored {scores.height:,} customers")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
