"""The PostgreSQL source, against a real throwaway PostgreSQL server seeded with the sample shop."""

import itertools
from datetime import date, datetime, timedelta

import dagster as dg
import polars as pl
import pytest
import yaml

from assets.extraction.contract import ENTITIES, create_raw_schema, tracked_entities
from assets.extraction.extract import ExtractRequest, high_water_marks, run_extraction
from assets.extraction.postgres import (
    PostgresConfigError,
    PostgresSettings,
    PostgresSource,
    PostgresSourceError,
    arrow_to_frame,
    incremental_query,
    parse_settings,
    postgres_source,
    read_from,
    redact_url,
)
from assets.extraction.sample_shop import SampleShopConfig, generate
from assets.extraction.sources import LandingSource, write_landing
from assets.warehouse import connect
from tests.support.pg_server import (
    SHOP_PASSWORD,
    SHOP_QUERIES,
    admin,
    missing_binaries,
    seed_shop,
    throwaway_postgres,
)

OVERLAP = timedelta(minutes=10)
SHOP = SampleShopConfig(orders=6_000, seed=11, end_date=date(2025, 6, 30), days=365)
QUIET = lambda message: None  # noqa: E731
_names = itertools.count()


# ---- pure functions (no server) ------------------------------------------------------------


def test_the_window_bounds_are_bound_parameters_not_sql_text():
    since, until = datetime(2025, 6, 1, 12, 0), datetime(2025, 6, 2)
    sql, params = incremental_query("select * from shop_order", since, until)
    assert params == (since, until)
    assert "$1" in sql and "$2" in sql
    assert "2025" not in sql


def test_a_first_run_reads_everything_in_cursor_order():
    sql, params = incremental_query("select * from shop_order", None, None)
    assert params == ()
    assert "WHERE" not in sql and sql.rstrip().endswith("ORDER BY q.updated_at")


def test_a_run_starts_the_overlap_before_the_mark():
    mark = datetime(2025, 6, 30, 23, 0)
    assert read_from(mark, OVERLAP) == mark - OVERLAP
    assert read_from(None, OVERLAP) is None


def test_messages_show_the_url_without_user_or_password():
    shown = redact_url(f"postgresql://reader:{SHOP_PASSWORD}@db.internal:6432/shop?sslmode=require")
    assert shown == "postgresql://db.internal:6432/shop"


@pytest.mark.parametrize(
    "section, key",
    [
        ({"entities": {"orderz": {"query": "select 1"}}}, "postgres.entities.orderz"),
        ({"entities": {"orders": {"query": " "}}}, "postgres.entities.orders.query"),
        ({"entities": {"orders": "select 1"}}, "postgres.entities.orders.query"),
        ({"entities": {}}, "postgres.entities"),
        ({"entities": {"carts": {"query": "select 1"}}}, "postgres.entities needs a query for orders"),
        ({"entities": {"orders": {"query": "select 1"}}, "batch_rows": 0}, "postgres.batch_rows"),
        ({"entities": {"orders": {"query": "select 1"}}, "overlap_minutes": -5}, "postgres.overlap_minutes"),
        ({"entities": {"orders": {"query": "select 1"}}, "batchrows": 10}, "batchrows"),
    ],
)
def test_a_bad_postgres_section_names_the_file_and_key(section, key):
    with pytest.raises(PostgresConfigError, match=rf"^shop/retention\.yml: .*{key}"):
        parse_settings(section, "shop/retention.yml")


def test_a_trailing_semicolon_in_a_query_is_dropped():
    settings = parse_settings({"entities": {"orders": {"query": "select 1 as updated_at;\n"}}})
    assert settings.queries["orders"] == "select 1 as updated_at"


def test_the_source_needs_the_url_and_the_section():
    with pytest.raises(PostgresConfigError, match="RETENTION_POSTGRES_URL"):
        postgres_source(None, {"postgres": {"entities": {"orders": {"query": "select 1"}}}})
    with pytest.raises(PostgresConfigError, match="needs a `postgres` section"):
        postgres_source("postgresql://u:p@h/db", {"_path": "x/retention.yml"})


def test_the_shop_source_resource_builds_the_postgres_source_from_env_and_config(tmp_path, monkeypatch):
    from assets.extraction.builders import build_source
    from assets.resources import ShopSourceResource

    config = tmp_path / "retention.yml"
    config.write_text(yaml.safe_dump({"postgres": {"entities": {"orders": {"query": SHOP_QUERIES["orders"]}}}}))
    url = f"postgresql://reader:{SHOP_PASSWORD}@db.internal/shop"
    monkeypatch.setenv("RETENTION_POSTGRES_URL", url)
    resource = ShopSourceResource(kind="postgres", config_file=str(config), currency="eur")
    source = build_source(resource)
    assert isinstance(source, PostgresSource) and source.url == url and source.currency == "EUR"
    assert list(source.settings.queries) == ["orders"]
    assert SHOP_PASSWORD not in str(resource.model_dump())


def test_settings_refuse_the_postgres_source_without_its_url(monkeypatch):
    from assets.settings import Settings

    monkeypatch.setenv("RETENTION_SOURCE", "postgres")
    monkeypatch.delenv("RETENTION_POSTGRES_URL", raising=False)
    with pytest.raises(ValueError, match="RETENTION_POSTGRES_URL: RETENTION_SOURCE=postgres needs it"):
        Settings.from_env()


def test_batches_become_naive_utc_and_exact_decimal_text():
    import pyarrow as pa

    ts = pa.array([datetime(2025, 1, 1, 12)], type=pa.timestamp("us", tz="Europe/Amsterdam"))
    money = pa.ExtensionArray.from_storage(pa.opaque(pa.string(), "numeric", "PostgreSQL"), pa.array(["12.30"]))
    df = arrow_to_frame(pa.table({"updated_at": ts, "subtotal": money}))
    assert df.schema["updated_at"] == pl.Datetime("us") and df.schema["subtotal"] == pl.String
    assert df.row(0) == (datetime(2025, 1, 1, 12), "12.30")


# ---- against a real server -----------------------------------------------------------------


@pytest.fixture(scope="session")
def shop_frames():
    return generate(SHOP, duplicates=False)


@pytest.fixture(scope="session")
def pg(shop_frames):
    missing = missing_binaries()
    if missing:
        pytest.skip(f"PostgreSQL binaries not on PATH: {', '.join(missing)}")
    with throwaway_postgres() as server:
        seed_shop(server.url(), shop_frames)
        yield server


@pytest.fixture
def shop_url(pg):
    """A fresh copy of the seeded shop database for one test."""
    return pg.clone("shop", f"shop_t{next(_names)}")


def pg_source(url, batch_rows=1_000, overlap=OVERLAP, entities=tuple(ENTITIES)):
    return PostgresSource(url, PostgresSettings({e: SHOP_QUERIES[e] for e in entities}, batch_rows, overlap))


def warehouse(tmp_path, name="wh"):
    con = connect(tmp_path / f"{name}.duckdb")
    create_raw_schema(con)
    return con


def extract(con, source, run_id="r"):
    return run_extraction(con, source, ExtractRequest(tuple(ENTITIES)), run_id, log=QUIET)


def raw(con, entity):
    e = ENTITIES[entity]
    cols = ", ".join(e.column_names)
    return con.sql(f"SELECT {cols} FROM raw.{entity} ORDER BY {', '.join(e.primary_key)}").pl()


def interrupt_after_first_batch(source, action):
    """Run `action` while the source is between its first and second batch."""
    real = source.batches

    def batches(*args, **kwargs):
        it = real(*args, **kwargs)
        yield next(it)
        action()
        yield from it

    source.batches = batches
    return source


def in_overlap(frame, mark):
    return frame.filter(pl.col("updated_at") > mark - OVERLAP).height


def test_first_load_equals_the_landing_load_of_the_same_rows(tmp_path, shop_url, shop_frames):
    write_landing(shop_frames, tmp_path / "landing", "parquet")
    from_files = warehouse(tmp_path, "landing")
    extract(from_files, LandingSource(tmp_path / "landing"))
    from_db = warehouse(tmp_path, "pg")
    stats = extract(from_db, pg_source(shop_url))
    for entity, frame in shop_frames.items():
        assert stats[entity].rows_read == stats[entity].loaded == frame.height, entity
        assert raw(from_db, entity).equals(raw(from_files, entity)), entity


def test_second_night_reads_changed_rows_and_the_overlap_only(tmp_path, shop_url, shop_frames):
    con = warehouse(tmp_path)
    extract(con, pg_source(shop_url))
    marks = high_water_marks(con, "postgres", ENTITIES)
    mark = marks["orders"]
    orders = shop_frames["orders"]
    old = orders.filter(pl.col("updated_at") < mark - timedelta(days=2), pl.col("status") == "fulfilled")
    changed, refunded, template = old["order_id"][:3].to_list(), old["order_id"][3], old["order_id"][4]
    with admin(shop_url) as cur:
        cur.execute("SET TimeZone = 'UTC'")
        cur.execute(
            f"UPDATE shop_order SET status = 'cancelled', updated_at = $1 WHERE id IN ({', '.join(repr(i) for i in changed)})",
            parameters=(mark + timedelta(hours=1),),
        )
        for new_id in ("N1", "N2"):
            cur.execute(
                "INSERT INTO shop_order SELECT $1, customer_id, $2, $2, status, device, channel, currency, "
                "subtotal, discount, shipping, tax, refunded_amount, coupon_code FROM shop_order WHERE id = $3",
                parameters=(new_id, mark + timedelta(minutes=30), template),
            )
        # A refund whose transaction began before the last run's snapshot and committed after it.
        cur.execute(
            "UPDATE shop_order SET status = 'refunded', refunded_amount = subtotal, updated_at = $1 WHERE id = $2",
            parameters=(mark - timedelta(minutes=5), refunded),
        )

    stats = extract(con, pg_source(shop_url), "night2")
    o = stats["orders"]
    assert (o.inserted, o.updated) == (2, len(changed) + 1)
    assert o.unchanged == in_overlap(orders, mark)
    assert o.rows_read == o.loaded + o.quarantined == 2 + len(changed) + 1 + in_overlap(orders, mark)
    for entity in ("customers", "order_lines", "carts", "support_tickets"):
        s = stats[entity]
        assert s.rows_read == s.unchanged == in_overlap(shop_frames[entity], marks[entity]), entity
    got = con.execute("SELECT status, refunded_amount = subtotal FROM raw.orders WHERE order_id = ?", [refunded]).fetchone()
    assert got == ("refunded", True)
    assert high_water_marks(con, "postgres", ["orders"])["orders"] == mark + timedelta(hours=1)


def test_without_the_overlap_a_late_commit_is_missed(tmp_path, shop_url, shop_frames):
    con = warehouse(tmp_path)
    extract(con, pg_source(shop_url, overlap=timedelta(0)))
    mark = high_water_marks(con, "postgres", ["orders"])["orders"]
    late = shop_frames["orders"].filter(pl.col("updated_at") < mark - timedelta(days=2))["order_id"][0]
    with admin(shop_url) as cur:
        cur.execute("SET TimeZone = 'UTC'")
        cur.execute("UPDATE shop_order SET status = 'refunded', updated_at = $1 WHERE id = $2",
                    parameters=(mark - timedelta(minutes=5), late))
    assert extract(con, pg_source(shop_url, overlap=timedelta(0)))["orders"].updated == 0
    assert extract(con, pg_source(shop_url, overlap=OVERLAP))["orders"].updated == 1


def test_all_entities_come_from_one_snapshot(tmp_path, shop_url, pg):
    """An order committed while the run reads customers is not half-seen: it waits for the next run."""
    con = warehouse(tmp_path)

    def new_order():
        with admin(shop_url) as cur:
            cur.execute("INSERT INTO shop_order SELECT 'DURING', customer_id, now(), now(), status, device, channel, "
                        "currency, subtotal, discount, shipping, tax, refunded_amount, coupon_code "
                        "FROM shop_order LIMIT 1")

    extract(con, interrupt_after_first_batch(pg_source(shop_url), new_order))
    seen = "SELECT count(*) FROM raw.orders WHERE order_id = 'DURING'"
    assert con.execute(seen).fetchone()[0] == 0
    extract(con, pg_source(shop_url))
    assert con.execute(seen).fetchone()[0] == 1


def test_the_run_cannot_write_to_the_shop_database(tmp_path, shop_url):
    with admin(shop_url) as cur:
        cur.execute("CREATE SEQUENCE export_counter")
    writes = f"SELECT nextval('export_counter') AS n, q.* FROM ({SHOP_QUERIES['orders']}) q"
    source = PostgresSource(shop_url, PostgresSettings({"orders": writes}))
    with pytest.raises(PostgresSourceError, match=r"cannot execute nextval\(\) in a read-only transaction"):
        extract(warehouse(tmp_path), source)
    with admin(shop_url) as cur:
        cur.execute("SELECT last_value, is_called FROM export_counter")
        assert cur.fetchone() == (1, False)


def test_a_broken_query_names_the_entity_and_the_server_error(tmp_path, shop_url):
    source = PostgresSource(shop_url, PostgresSettings({"orders": "SELECT id AS order_id FROM shop_order"}))
    with pytest.raises(PostgresSourceError, match=r"postgres\.entities\.orders .*column q\.updated_at does not exist"):
        extract(warehouse(tmp_path), source)


def test_a_lost_connection_moves_no_mark_and_the_rerun_completes_the_load(tmp_path, shop_url, pg, shop_frames):
    con = warehouse(tmp_path)
    with pytest.raises(PostgresSourceError) as err:
        extract(con, interrupt_after_first_batch(pg_source(shop_url), pg.end_reader_sessions))
    assert "127.0.0.1" in str(err.value) and SHOP_PASSWORD not in str(err.value)
    assert set(high_water_marks(con, "postgres", ENTITIES).values()) == {None}
    extract(con, pg_source(shop_url))
    clean = warehouse(tmp_path, "clean")
    extract(clean, pg_source(shop_url))
    for entity in ENTITIES:
        assert raw(con, entity).equals(raw(clean, entity)), entity
    assert high_water_marks(con, "postgres", ENTITIES) == high_water_marks(clean, "postgres", ENTITIES)


def test_a_bad_row_is_quarantined_and_counted(tmp_path, shop_url):
    with admin(shop_url) as cur:
        cur.execute("UPDATE shop_order SET subtotal = -1 WHERE id = (SELECT min(id) FROM shop_order)")
    con = warehouse(tmp_path)
    stats = extract(con, pg_source(shop_url))["orders"]
    assert stats.quarantined == 1 and stats.reasons == {"negative_amount:subtotal": 1}
    assert stats.rows_read == stats.loaded + stats.quarantined
    reason, source_file = con.execute("SELECT reason, source_file FROM raw.quarantine").fetchone()
    assert reason == "negative_amount:subtotal" and SHOP_PASSWORD not in source_file


def test_entities_without_a_query_are_not_tracked(tmp_path, shop_url):
    con = warehouse(tmp_path)
    extract(con, pg_source(shop_url, entities=("orders", "order_lines")))
    assert tracked_entities(con) == {"orders", "order_lines"}


def test_the_asset_retries_a_lost_connection_and_never_shows_the_password(tmp_path, shop_url, pg, shop_frames, monkeypatch, capsys):
    from assets.extraction.assets import EXTRACTION_RETRY_POLICY, build_extract_asset
    from orchestration.jobs import make_pipeline_job
    from assets.resources import ShopSourceResource, WarehouseResource

    config = tmp_path / "retention.yml"
    config.write_text(yaml.safe_dump({"postgres": {
        "entities": {e: {"query": q} for e, q in SHOP_QUERIES.items()}, "batch_rows": 2_000,
    }}))
    monkeypatch.setenv("RETENTION_POSTGRES_URL", shop_url)
    real, calls = PostgresSource.batches, []

    def flaky(self, *args, **kwargs):
        calls.append(1)
        it = real(self, *args, **kwargs)
        yield next(it)
        if len(calls) == 1:
            pg.end_reader_sessions()
        yield from it

    monkeypatch.setattr(PostgresSource, "batches", flaky)
    asset = build_extract_asset(retry_policy=EXTRACTION_RETRY_POLICY._replace(delay=0, jitter=None))
    defs = dg.Definitions(
        assets=[asset],
        jobs=[make_pipeline_job("pg_probe", "test", selection=dg.AssetSelection.assets(asset))],
        resources={
            "warehouse": WarehouseResource(data_dir=str(tmp_path / "data")),
            "shop_source": ShopSourceResource(kind="postgres", config_file=str(config)),
        },
    )
    result = defs.resolve_job_def("pg_probe").execute_in_process(raise_on_error=False)
    assert result.success and len(calls) == 2
    assert [e.event_type_value for e in result.all_events].count("STEP_RESTARTED") == 1
    read = {
        m.asset_key.path[-1]: m.metadata["rows_read"].value
        for m in result.asset_materializations_for_node("extract_shop")
    }
    assert read == {e: f.height for e, f in shop_frames.items()}
    shown = " ".join(str(e) for e in result.all_events) + capsys.readouterr().err
    assert "127.0.0.1" in shown and SHOP_PASSWORD not in shown
