"""`python -m orchestration.where`: where the last run left the warehouse, exports and report."""

from __future__ import annotations

import json

from assets.settings import Settings


def describe(settings: Settings) -> list[str]:
    layout = settings.layout
    lines = [f"data folder:          {settings.data_dir}"]
    pub = layout.published_db
    lines.append(
        f"analyst warehouse:    {pub}  (open read-only: duckdb -readonly {pub})"
        if pub.exists()
        else f"analyst warehouse:    {pub}  (not published yet)"
    )
    current = layout.current_link
    lines.append(
        f"current build:        {current.resolve().name}  ({current} -> {current.readlink()})"
        if current.is_symlink()
        else "current build:        none published yet"
    )
    lines.append(f"build warehouse:      {layout.build_db}  (pipeline only)")
    manifest = layout.exports_dir / "_manifest.json"
    if manifest.exists():
        m = json.loads(manifest.read_text())
        lines.append(
            f"parquet exports:      {layout.exports_dir}  ({len(m['marts'])} marts, "
            f"as of {m.get('as_of_date')}, run {m.get('run_id')})"
        )
    else:
        lines.append(f"parquet exports:      {layout.exports_dir}  (not exported yet)")
    report = layout.report_dir / "index.html"
    lines.append(f"report:               {report}" + ("" if report.exists() else "  (not built yet)"))
    docs = layout.quality_dir
    lines.append(f"quality data docs:    {docs}" + ("" if docs.exists() else "  (not built yet)"))
    return lines


def main() -> None:
    print("\n".join(describe(Settings.from_env())))


if __name__ == "__main__":
    main()
