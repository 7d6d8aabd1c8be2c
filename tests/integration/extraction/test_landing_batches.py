"""Files of one entity and one schema load as one batch, with the same result as file by file."""

import pytest

from assets.extraction.contract import create_raw_schema
from assets.extraction.extract import ExtractRequest, run_extraction
from assets.extraction.sources import LandingSource
from assets.warehouse import connect

HEADER = "order_id,customer_id,created_at,updated_at,status,currency,subtotal\n"


def row(order_id, updated="2025-01-01 10:00:00", subtotal="10.00", created="2025-01-01 10:00:00"):
    return f"{order_id},C1,{created},{updated},placed,USD,{subtotal}\n"


# Disjoint keys; one row of the second file breaks the contract.
DISJOINT = {
    "a.csv": [row("O1"), row("O2"), row("O1")],  # an identical copy inside the file
    "b.csv": [row("O3"), row("O4", created="not a date"), row("O5")],
    "c.csv": [row("O6")],
}
# The same keys in several files: a newer version, an identical copy, a conflict, an older version.
SHARED = {
    "a.csv": [row("O1"), row("O2"), row("O3"), row("O4", updated="2025-01-05 10:00:00")],
    "b.csv": [row("O1", updated="2025-01-02 10:00:00", subtotal="12.00"), row("O2"), row("O9")],
    "c.csv": [row("O3", subtotal="99.00"), row("O4", updated="2025-01-03 10:00:00")],
}


def landing(tmp_path, files) -> LandingSource:
    folder = tmp_path / "landing" / "orders"
    folder.mkdir(parents=True)
    for name, rows in files.items():
        (folder / name).write_text(HEADER + "".join(rows))
    return LandingSource(tmp_path / "landing")


def extract(tmp_path, source: LandingSource, name: str):
    con = connect(tmp_path / f"{name}.duckdb")
    create_raw_schema(con)
    stats = run_extraction(con, source, ExtractRequest(("orders",)), "run-1", log=lambda _: None)["orders"]
    raw = con.execute(
        "SELECT * EXCLUDE (_loaded_at) FROM raw.orders ORDER BY order_id"
    ).fetchall()
    quarantine = con.execute(
        "SELECT entity, reason, source_file, row_number, record FROM raw.quarantine ORDER BY ALL"
    ).fetchall()
    files = con.execute("SELECT path, rows_read FROM raw._ingested_files ORDER BY path").fetchall()
    con.close()
    return stats, raw, quarantine, files


@pytest.mark.parametrize("files", [DISJOINT, SHARED], ids=["disjoint_keys", "shared_keys"])
def test_one_batch_of_several_files_loads_as_file_by_file(tmp_path, files):
    source = landing(tmp_path, files)
    batches = list(source.batches(("orders",), {"orders": None}, None))
    assert len(batches) == 1 and len(batches[0].parts) == len(files)
    alone = LandingSource(source.root, batch_rows=1)  # every file its own batch
    assert [len(b.parts) for b in alone.batches(("orders",), {"orders": None}, None)] == [0] * len(files)
    together, one_by_one = extract(tmp_path, source, "together"), extract(tmp_path, alone, "alone")
    assert together == one_by_one
    stats, raw, quarantine, ingested = together
    assert stats.quarantined >= 1 and len(ingested) == len(files)
    assert all(q[2].endswith((".csv")) and q[3] >= 1 for q in quarantine)


def test_files_of_another_schema_start_a_new_batch(tmp_path):
    source = landing(tmp_path, {"a.csv": [row("O1")], "b.csv": [row("O2")]})
    (source.root / "orders" / "c.csv").write_text(HEADER.replace("\n", ",note\n") + row("O3").replace("\n", ",x\n"))
    batches = list(source.batches(("orders",), {"orders": None}, None))
    assert [len(b.parts) for b in batches] == [2, 0]
    assert batches[1].source_file.endswith("c.csv")


def test_batches_stop_growing_at_batch_rows(tmp_path):
    source = landing(tmp_path, {f"{i}.csv": [row(f"O{i}a"), row(f"O{i}b")] for i in range(5)})
    source.batch_rows = 4
    sizes = [b.frame.height for b in source.batches(("orders",), {"orders": None}, None)]
    assert sizes == [4, 4, 2]
