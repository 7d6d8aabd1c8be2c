"""`python -m orchestration.where`: where the last run left the warehouse, exports and report."""

from __future__ import annotations

from .settings import Settings


def describe(settings: Settings) -> list[str]:
    lines = [f"data folder:          {settings.data_dir}"]
    pub = settings.published_db
    lines.append(
        f"analyst warehouse:    {pub}  (open read-only: duckdb -readonly {pub})"
        if pub.exists()
        else f"analyst warehouse:    {pub}  (not published yet)"
    )
    lines.append(f"build warehouse:      {settings.build_db}  (pipeline only)")
    exports = sorted(p.name for p in settings.exports_dir.iterdir() if not p.name.startswith(".")) if settings.exports_dir.exists() else []
    lines.append(f"parquet exports:      {settings.exports_dir}  ({len(exports)} marts)")
    report = settings.report_dir / "index.html"
    lines.append(f"report:               {report}" + ("" if report.exists() else "  (not built yet)"))
    docs = settings.quality_dir
    lines.append(f"quality data docs:    {docs}" + ("" if docs.exists() else "  (not built yet)"))
    return lines


def main() -> None:
    print("\n".join(describe(Settings.from_env())))


if __name__ == "__main__":
    main()
