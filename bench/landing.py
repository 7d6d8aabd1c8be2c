"""The sample shop written as a Parquet landing folder, one file per block per entity.

`write_landing` writes the shop as a landing folder holds it on an as-of
day; `write_day` writes one day's changes (rows created or updated that day)
as the extra files a shop would drop for the next night. Benchmarks only:
the product reads the sample shop directly (RETENTION_SOURCE=sample_shop).
"""

from __future__ import annotations

import sys
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from assets.extraction.sample_shop import SampleShopConfig, iter_blocks  # noqa: E402


def _config(orders: int, seed: int) -> SampleShopConfig:
    return SampleShopConfig(orders=orders, seed=seed)


def _end_of_day(cfg: SampleShopConfig, day: int) -> datetime:
    """The last second of the `day`-th day of history (1-based)."""
    return datetime.combine(cfg.start_date + timedelta(days=day - 1), datetime.max.time()).replace(microsecond=0)


def _write_blocks(folder: Path, blocks, prefix: str) -> dict[str, int]:
    rows: dict[str, int] = {}
    for i, block in enumerate(blocks):
        for entity, frame in block.items():
            (folder / entity).mkdir(parents=True, exist_ok=True)
            frame.write_parquet(folder / entity / f"{prefix}-{i:04d}.parquet")
            rows[entity] = rows.get(entity, 0) + frame.height
    return rows


def write_landing(folder: Path, orders: int, seed: int = 42, days: int | None = None) -> dict[str, int]:
    """The shop as of the end of its `days`-th day (None: all of its history); rows written per entity."""
    cfg = _config(orders, seed)
    as_of = cfg.end_of_history if days is None else _end_of_day(cfg, days)
    return _write_blocks(Path(folder), iter_blocks(cfg, as_of=as_of), "block")


def write_day(folder: Path, orders: int, seed: int = 42, day: int | None = None) -> dict[str, int]:
    """The rows created or updated on the `day`-th day (None: the last day), named after that date."""
    cfg = _config(orders, seed)
    day = cfg.days if day is None else day
    blocks = iter_blocks(cfg, as_of=_end_of_day(cfg, day), since=_end_of_day(cfg, day - 1))
    stamp = (cfg.start_date + timedelta(days=day - 1)).isoformat()
    return _write_blocks(Path(folder), blocks, f"day-{stamp}-block")


def history_days(orders: int, seed: int = 42) -> int:
    """Days of history the sample shop of this size has."""
    return _config(orders, seed).days


def history_end(orders: int, seed: int = 42) -> datetime:
    """The last moment of the sample shop's history: no row of it is updated later."""
    return _config(orders, seed).end_of_history
