"""Turn the CDNOW master file into an orders-only landing folder.

CDNOW (tests/fixtures/cdnow/PROVENANCE.md) is a real retailer's transaction
log: one whitespace-separated line per purchase, `customer_id date(YYYYMMDD)
number_of_cds dollar_value`, nothing else. The landing folder gets only
`orders/orders.csv` with the minimal columns the contract needs; everything
else (status, device, currency, amounts, updated_at) takes the contract's
defaults (docs/source-contract.md).

    python scripts/cdnow_to_landing.py tests/fixtures/cdnow/CDNOW_master.txt landing/cdnow

Then run the pipeline on it with RETENTION_SOURCE=landing (docs/real-shops.md).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import polars as pl

ORDER_COLUMNS = ("order_id", "customer_id", "created_at", "subtotal")


def read_cdnow(path: Path) -> pl.DataFrame:
    """The master file as text columns plus `line`, its 1-based data line number.

    Read as text and split on runs of blanks: the file is column-aligned with
    leading blanks, and ids keep their zero padding.
    """
    lines = [ln.split() for ln in Path(path).read_text().splitlines() if ln.strip()]
    if not lines:
        raise ValueError(f"{path}: file is empty (expected a CDNOW master file)")
    header, rows = lines[0], lines[1:]
    if header != ["customer_id", "date", "number_of_cds", "dollar_value"]:
        raise ValueError(f"{path}: header is {header!r}, expected customer_id date number_of_cds dollar_value")
    bad = [i for i, r in enumerate(rows, start=2) if len(r) != 4]
    if bad:
        raise ValueError(f"{path}: line {bad[0]} has {len(rows[bad[0] - 2])} fields, expected 4")
    return pl.DataFrame(rows, schema=list(header), orient="row").with_row_index("line", offset=1)


def cdnow_orders(master: pl.DataFrame) -> pl.DataFrame:
    """One order per CDNOW line: a stable synthesised id, the customer, noon of the day, the dollar value.

    The id joins customer, date and line number because a customer may buy
    twice on one day; it stays the same as long as the file does. Noon keeps
    the shop-local date equal to the file's date in any time zone within
    +-11 hours of UTC.
    """
    day = pl.col("date").str.strptime(pl.Date, "%Y%m%d")
    return master.select(
        order_id=pl.format("{}-{}-{}", "customer_id", "date", pl.col("line")),
        customer_id=pl.col("customer_id"),
        created_at=pl.format("{} 12:00:00", day.dt.strftime("%Y-%m-%d")),
        subtotal=pl.col("dollar_value"),
    )


def write_landing(master_file: Path, landing_dir: Path) -> Path:
    """Write `<landing_dir>/orders/orders.csv`; returns its path."""
    orders = cdnow_orders(read_cdnow(master_file))
    folder = Path(landing_dir) / "orders"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "orders.csv"
    orders.write_csv(path)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("master_file", type=Path, help="CDNOW_master.txt")
    parser.add_argument("landing_dir", type=Path, help="landing folder to create (orders/ is written inside)")
    args = parser.parse_args(argv)
    path = write_landing(args.master_file, args.landing_dir)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
