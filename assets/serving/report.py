"""The nightly HTML report: one self-contained file a shop owner opens from disk.

Inline CSS and inline SVG only (no JavaScript, no CDN, no fonts to fetch).
`load_report_frames` queries the marts into Polars frames; every `section_*`
and `build_report` take plain frames, so tests can hand-make them. A missing
or empty mart turns its section into a short "not available" note instead of
failing the report; an entity the shop does not track (`mart_data_coverage`
decides, the report does not re-decide) turns its sections and tiles into
"not tracked"; predictions the models could not make show "not available"
with the reason the predictions asset gave.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, timezone
from html import escape
from pathlib import Path

import duckdb
import polars as pl

from . import svg

REPORT_MARTS = (
    "mart_cohort_retention",
    "mart_retention_rate",
    "mart_churn_monthly",
    "mart_customer_churn",
    "mart_aov_by_device",
    "mart_cart_abandonment",
    "mart_support_retention",
    "mart_clv_summary",
    "mart_data_coverage",
)
# Per-customer predictions are summarised in the warehouse: the report only
# needs the churn-risk bands and the note of a skipped fit.
PREDICTIONS_MART = "mart_customer_predictions"
PREDICTION_BANDS = ("low", "medium", "high", "unknown")
ENTITY_LABELS = {
    "orders": "orders",
    "order_lines": "order lines",
    "customers": "customers",
    "carts": "carts",
    "support_tickets": "support tickets",
}
CURRENCY_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "CAD": "CA$", "AUD": "A$", "CHF": "CHF "}
SUPPORT_DIMENSIONS = [
    ("ticket", "Support contact", ["no_ticket", "ticket"]),
    ("resolution_time", "Slowest resolution", ["under_4h", "4h_to_24h", "1d_to_3d", "over_3d", "unresolved"]),
    ("csat", "Lowest CSAT", ["high_4_5", "neutral_3", "low_1_2", "no_score"]),
    ("channel", "Channel used", []),
]
GROUP_LABELS = {
    "no_ticket": "No ticket",
    "ticket": "Opened a ticket",
    "under_4h": "Under 4 h",
    "4h_to_24h": "4–24 h",
    "1d_to_3d": "1–3 days",
    "over_3d": "Over 3 days",
    "unresolved": "Unresolved",
    "high_4_5": "High (4–5)",
    "neutral_3": "Neutral (3)",
    "low_1_2": "Low (1–2)",
    "no_score": "No score",
    "other": "Other",
}
# Catch-all values sort after the named ones in charts.
CATCH_ALL_VALUES = ("other", "unknown")


def load_report_frames(con: duckdb.DuckDBPyConnection, schema: str = "marts") -> dict[str, pl.DataFrame]:
    """Read the marts the report needs (those that exist) into Polars frames."""
    present = {
        r[0]
        for r in con.execute("SELECT table_name FROM duckdb_tables() WHERE schema_name = ?", [schema]).fetchall()
    }
    frames = {}
    for name in REPORT_MARTS:
        if name in present:
            frames[name] = con.sql(f'SELECT * FROM "{schema}"."{name}"').pl()
    if PREDICTIONS_MART in present:
        frames[PREDICTIONS_MART] = _prediction_bands(con, schema)
    return frames


def _prediction_bands(con: duckdb.DuckDBPyConnection, schema: str) -> pl.DataFrame:
    """Customers, predicted 12-month CLV and the fit note per churn-risk band."""
    columns = {
        r[0]
        for r in con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = ? AND table_name = ?",
            [schema, PREDICTIONS_MART],
        ).fetchall()
    }
    note = "max(prediction_note)" if "prediction_note" in columns else "CAST(NULL AS VARCHAR)"
    return con.sql(
        f"SELECT churn_risk, count(*) AS customers, sum(predicted_clv_12m) AS predicted_clv_12m, "
        f"{note} AS prediction_note "
        f'FROM "{schema}"."{PREDICTIONS_MART}" GROUP BY churn_risk ORDER BY churn_risk'
    ).pl()


def _month_label(d: date) -> str:
    return d.strftime("%b %y")


def _usable(frames: Mapping[str, pl.DataFrame], name: str) -> pl.DataFrame | None:
    df = frames.get(name)
    return df if df is not None and df.height > 0 else None


def _missing(name: str) -> str:
    return f'<p class="na">Not available: mart <code>{escape(name)}</code> is missing or empty in this build.</p>'


def untracked_entities(frames: Mapping[str, pl.DataFrame]) -> set[str]:
    """Entities `mart_data_coverage` marks as not tracked (none when the build has no coverage mart)."""
    coverage = _usable(frames, "mart_data_coverage")
    if coverage is None:
        return set()
    return set(coverage.filter(~pl.col("is_tracked"))["entity"].to_list())


def not_tracked_text(entity: str) -> str:
    return f"Not tracked by this shop (no {ENTITY_LABELS.get(entity, entity)} data)"


def _not_tracked(entity: str) -> str:
    return f'<p class="na">{escape(not_tracked_text(entity))}.</p>'


def prediction_note(frames: Mapping[str, pl.DataFrame]) -> str | None:
    """Why the predictions asset made no (or no spend) predictions; None after a full fit."""
    bands = _usable(frames, PREDICTIONS_MART)
    if bands is None or "prediction_note" not in bands.columns:
        return None
    notes = bands["prediction_note"].drop_nulls()
    return notes[0] if notes.len() else None


def predictions_available(frames: Mapping[str, pl.DataFrame]) -> bool:
    """Some customer has a churn-risk band from the model."""
    bands = _usable(frames, PREDICTIONS_MART)
    return bands is not None and bands.filter(pl.col("churn_risk") != "unknown").height > 0


def _catch_all_last(values: list[str]) -> list[str]:
    return sorted(values, key=lambda v: (v in CATCH_ALL_VALUES, v))


def _card(title: str, subtitle: str, body: str, wide: bool = False) -> str:
    cls = "card wide" if wide else "card"
    return f'<section class="{cls}"><h2>{escape(title)}</h2><p class="sub">{subtitle}</p>{body}</section>'


def _f(v) -> float | None:
    return None if v is None else float(v)


# --- sections ------------------------------------------------------------------


def kpis(frames: Mapping[str, pl.DataFrame], sym: str) -> list[tuple[str, str, str]]:
    """(label, value, note) tiles; skips what the build does not have, says what the shop does not track."""
    out = []
    untracked = untracked_entities(frames)
    churn = _usable(frames, "mart_customer_churn")
    if churn is not None:
        n = churn.height
        churned = int(churn["is_churned"].sum())
        out.append(("Customers", svg.number(n), "with at least one order"))
        out.append(("Active customers", svg.number(n - churned), f"{svg.pct(churned / n, 1)} churned"))
    for title, mart, rate in (
        ("Retention rate", "mart_retention_rate", "retention_rate"),
        ("Monthly churn", "mart_churn_monthly", "churn_rate"),
    ):
        monthly = _usable(frames, mart)
        if monthly is None:
            continue
        done = monthly.filter(pl.col("is_complete_month") & pl.col(rate).is_not_null()).sort("month")
        if done.height:
            last = done.row(-1, named=True)
            out.append((title, svg.pct(last[rate], 1), f"in {_month_label(last['month'])}"))
    aov = _usable(frames, "mart_aov_by_device")
    if aov is not None:
        recent = _last_months(aov, "order_month", 12)
        orders = recent["orders"].sum()
        if orders:
            out.append(("Average order value", svg.money(float(recent["net_revenue"].sum()) / orders, sym, 2), "last 12 months"))
    carts = _usable(frames, "mart_cart_abandonment")
    if "carts" in untracked:
        out.append(("Recovered revenue", "not tracked", f"no {ENTITY_LABELS['carts']} data"))
    elif carts is not None:
        recent = _last_months(carts, "cart_month", 12)
        out.append(("Recovered revenue", svg.money(_f(recent["recovered_revenue"].sum()), sym), "from abandoned carts, last 12 months"))
    bands = _usable(frames, PREDICTIONS_MART)
    if bands is not None:
        note = prediction_note(frames)
        if not predictions_available(frames):
            out.append(("High churn risk", "not available", note or "no prediction"))
        else:
            scored = bands.filter(pl.col("churn_risk") != "unknown")
            high = int(scored.filter(pl.col("churn_risk") == "high")["customers"].sum())
            out.append(("High churn risk", svg.number(high), f"{svg.pct(high / int(scored['customers'].sum()), 1)} of customers (model)"))
            clv = scored["predicted_clv_12m"].drop_nulls()
            if clv.len():
                out.append(("Predicted 12-month CLV", svg.money(_f(clv.sum()), sym), "all customers (model)"))
            else:
                out.append(("Predicted 12-month CLV", "not available", note or "no spend prediction"))
    return out


def _last_months(df: pl.DataFrame, col: str, n: int) -> pl.DataFrame:
    months = df[col].unique().sort()
    keep = months.tail(n)
    return df.filter(pl.col(col).is_in(keep.implode()))


def section_cohort_heatmap(df: pl.DataFrame | None, max_cohorts: int = 24) -> str:
    title = "Cohort retention"
    sub = ("Share of each first-order cohort that ordered again in each later month "
           "(month 0 = the first-order month, always 100%). Read across a row to follow one cohort.")
    if df is None or df.height == 0:
        return _card(title, sub, _missing("mart_cohort_retention"), wide=True)
    cohorts = df["cohort_month"].unique().sort().tail(max_cohorts).to_list()
    df = df.filter(pl.col("cohort_month").is_in(cohorts))
    n_cols = int(df["months_since_first_order"].max()) + 1
    grid = {(r["cohort_month"], r["months_since_first_order"]): r["retention_rate"] for r in df.iter_rows(named=True)}
    later = df.filter(pl.col("months_since_first_order") > 0)["retention_rate"]
    v_max = float(later.max()) if later.len() and later.max() is not None else 1.0
    v_max = min(1.0, max(0.05, round(v_max + 0.05, 1)))
    values = [[grid.get((c, m)) for m in range(n_cols)] for c in cohorts]
    digits = 1 if v_max < 0.3 else 0
    body = svg.heatmap(
        [c.strftime("%b %Y") for c in cohorts],
        [str(m) for m in range(n_cols)],
        values,
        lambda v: svg.pct(v, digits),
        v_max=v_max,
        cell_w=max(30, min(44, 1100 // max(n_cols, 1))),
        col_title="Months since first order →",
        label="Cohort retention heatmap",
    )
    return _card(title, sub + f" Colour scale tops out at {svg.pct(v_max)}.", f'<div class="scroll">{body}</div>', wide=True)


def section_retention_trend(df: pl.DataFrame | None) -> str:
    title = "Retention rate by month"
    sub = ("(Active customers at month end − new customers) ÷ active customers at month start. "
           "Active = ordered in the trailing window.")
    if df is None or df.height == 0:
        return _card(title, sub, _missing("mart_retention_rate"))
    df = df.sort("month")
    partial = not bool(df["is_complete_month"][-1])
    body = svg.line_chart(
        [_month_label(m) for m in df["month"]],
        [("Retention rate", df["retention_rate"].to_list())],
        lambda v: svg.pct(v),
        y_min=None,
        y_max=1.0,
        y_title="% retained",
        open_last=partial,
        label="Retention rate trend",
    )
    if partial:
        sub += " Hollow point: month still in progress."
    return _card(title, sub, body)


def section_churn_trend(df: pl.DataFrame | None, churn_after_days: int | None = None) -> str:
    title = "Churn rate by month"
    rule = f"{churn_after_days} days" if churn_after_days else "the churn threshold"
    sub = (f"Customers whose last order became older than {rule} in the month, "
           "÷ active customers at the month's start.")
    if df is None or df.height == 0:
        return _card(title, sub, _missing("mart_churn_monthly"))
    df = df.sort("month")
    partial = not bool(df["is_complete_month"][-1])
    body = svg.line_chart(
        [_month_label(m) for m in df["month"]],
        [("Churn rate", df["churn_rate"].to_list())],
        lambda v: svg.pct(v, 1),
        y_title="% churned",
        open_last=partial,
        label="Churn rate trend",
    )
    return _card(title, sub, body)


def aov_by_device_table(df: pl.DataFrame, months: int = 12) -> pl.DataFrame:
    """Order-weighted AOV per device for new and returning customers over the last `months`."""
    recent = _last_months(df, "order_month", months)
    return (
        recent.with_columns(
            (pl.col("new_customer_aov").fill_null(0) * pl.col("new_customer_orders")).alias("_new_rev"),
            (pl.col("returning_customer_aov").fill_null(0) * pl.col("returning_customer_orders")).alias("_ret_rev"),
        )
        .group_by("device")
        .agg(
            pl.col("new_customer_orders").sum().alias("new_orders"),
            pl.col("returning_customer_orders").sum().alias("returning_orders"),
            pl.col("_new_rev").sum(),
            pl.col("_ret_rev").sum(),
        )
        .with_columns(
            pl.when(pl.col("new_orders") > 0).then(pl.col("_new_rev") / pl.col("new_orders")).alias("new_aov"),
            pl.when(pl.col("returning_orders") > 0).then(pl.col("_ret_rev") / pl.col("returning_orders")).alias("returning_aov"),
        )
        .drop("_new_rev", "_ret_rev")
        .with_columns(pl.col("device").is_in(list(CATCH_ALL_VALUES)).alias("_catch_all"))
        .sort("_catch_all", "device")
        .drop("_catch_all")
    )


def section_aov_by_device(df: pl.DataFrame | None, sym: str) -> str:
    title = "Average order value by device"
    sub = "Net revenue per order, last 12 months, first orders (new) vs repeat orders (returning)."
    if df is None or df.height == 0:
        return _card(title, sub, _missing("mart_aov_by_device"))
    t = aov_by_device_table(df)
    body = svg.bar_chart(
        t["device"].to_list(),
        [("New customers", t["new_aov"].to_list()), ("Returning customers", t["returning_aov"].to_list())],
        lambda v: svg.money(v, sym),
        y_title=f"AOV ({sym.strip()})",
        label="AOV by device",
    )
    return _card(title, sub, body)


def cart_monthly(df: pl.DataFrame) -> pl.DataFrame:
    return (
        df.group_by("cart_month")
        .agg(
            pl.col("carts").sum(),
            pl.col("open_carts").sum(),
            pl.col("abandoned_carts").sum(),
            pl.col("recovered_carts").sum(),
            pl.col("recovered_revenue").cast(pl.Float64).sum(),
        )
        .sort("cart_month")
        .with_columns(
            pl.when(pl.col("carts") - pl.col("open_carts") > 0)
            .then(pl.col("abandoned_carts") / (pl.col("carts") - pl.col("open_carts")))
            .alias("abandonment_rate"),
            pl.when(pl.col("abandoned_carts") > 0)
            .then(pl.col("recovered_carts") / pl.col("abandoned_carts"))
            .alias("recovery_rate"),
        )
    )


def section_carts(df: pl.DataFrame | None, sym: str, tracked: bool = True) -> str:
    title = "Cart abandonment and recovery"
    sub = ("Left: share of closed carts abandoned, and share of abandoned carts recovered (recovery e-mails). "
           "Right: net revenue of recovered carts per month.")
    if not tracked:
        return _card(title, sub, _not_tracked("carts"), wide=True)
    if df is None or df.height == 0:
        return _card(title, sub, _missing("mart_cart_abandonment"), wide=True)
    m = cart_monthly(df)
    labels = [_month_label(x) for x in m["cart_month"]]
    rates = svg.line_chart(
        labels,
        [("Abandonment rate", m["abandonment_rate"].to_list()), ("Recovery rate", m["recovery_rate"].to_list())],
        lambda v: svg.pct(v),
        y_max=1.0,
        y_title="% of carts",
        label="Cart abandonment and recovery rates",
    )
    revenue = svg.bar_chart(
        labels,
        [("Recovered revenue", m["recovered_revenue"].to_list())],
        lambda v: svg.money(v, sym),
        y_title=f"Recovered revenue ({sym.strip()})",
        value_labels=False,
        label="Recovered revenue by month",
        colors=[svg.PALETTE[2]],
    )
    return _card(title, sub, f'<div class="pair"><div>{rates}</div><div>{revenue}</div></div>', wide=True)


def section_support(df: pl.DataFrame | None, tracked: bool = True) -> str:
    title = "Support experience vs retention"
    sub = ("Share of customers not churned, by their support experience. "
           "n = customers in the group; a customer counts once per block (in each channel they used).")
    if not tracked:
        return _card(title, sub, _not_tracked("support_tickets"))
    if df is None or df.height == 0:
        return _card(title, sub, _missing("mart_support_retention"))
    rows, breaks = [], []
    for dim, dim_label, order in SUPPORT_DIMENSIONS:
        part = df.filter(pl.col("dimension") == dim)
        if part.height == 0:
            continue
        groups = part["support_group"].to_list()
        ordered = [g for g in order if g in groups] + _catch_all_last([g for g in groups if g not in order])
        if rows:
            breaks.append(len(rows))
        for g in ordered:
            r = part.filter(pl.col("support_group") == g).row(0, named=True)
            label = f"{dim_label}: {GROUP_LABELS.get(g, g.replace('_', ' '))}"
            rows.append((label, r["not_churned_rate"], f"n={r['customers']:,}"))
    body = svg.hbar_chart(rows, lambda v: svg.pct(v), x_max=1.0, label_w=250, label="Support vs retention",
                          section_breaks=breaks)
    return _card(title, sub, body)


def section_clv(df: pl.DataFrame | None, sym: str, margin_tracked: bool = True) -> str:
    title = "Customer lifetime value by cohort"
    sub = ("Historical CLV per customer = AOV × orders per year × years retained, by first-order year; "
           "margin CLV uses gross margin per order.")
    if df is None or df.height == 0:
        return _card(title, sub, _missing("mart_clv_summary"))
    df = df.with_columns(pl.col("cohort_year").fill_null(99999).alias("_o")).sort("_o")
    cats = [("All customers" if c == "all" else f"{c} cohort") for c in df["cohort"].to_list()]
    series = [("Revenue CLV", df["clv"].to_list())]
    if margin_tracked:
        series.append(("Margin CLV", df["margin_clv"].to_list()))
    else:
        sub += f" Margin CLV: {not_tracked_text('order_lines').lower()}."
    body = svg.bar_chart(
        cats,
        series,
        lambda v: svg.money(v, sym),
        y_title=f"Per customer ({sym.strip()})",
        label="CLV by cohort",
    )
    counts = ", ".join(f"{c}: {n:,} customers" for c, n in zip(cats, df["customers"].to_list()))
    return _card(title, sub + " " + escape(counts) + ".", body)


def section_predictions(df: pl.DataFrame | None, note: str | None) -> str:
    title = "Predicted churn risk"
    sub = ("Customers by the model's probability that they are still active (BG/NBD): "
           "low risk ≥ 70%, medium 30–70%, high below 30%.")
    if df is None or df.height == 0:
        return _card(title, sub, _missing(PREDICTIONS_MART))
    scored = df.filter(pl.col("churn_risk") != "unknown")
    if scored.height == 0:
        reason = f" ({escape(note)})" if note else ""
        return _card(title, sub, f'<p class="na">Not available{reason}.</p>')
    total = int(scored["customers"].sum())
    counts = dict(zip(scored["churn_risk"].to_list(), scored["customers"].to_list()))
    rows = [
        (f"{band.capitalize()} risk", counts.get(band, 0) / total, f"n={counts.get(band, 0):,}")
        for band in PREDICTION_BANDS
        if band != "unknown"
    ]
    body = svg.hbar_chart(rows, lambda v: svg.pct(v), x_max=1.0, label="Predicted churn risk")
    if note:
        sub += f" {escape(note)}."
    return _card(title, sub, body)


def clv_curves(df: pl.DataFrame) -> pl.DataFrame:
    """Cumulative net revenue per customer by months since first order, per half-year cohort.

    Cohorts of a half-year are weighted by size; a month counts only the
    cohorts that have reached it.
    """
    return (
        df.with_columns(
            (
                pl.col("cohort_month").dt.year().cast(pl.String)
                + pl.when(pl.col("cohort_month").dt.month() <= 6).then(pl.lit(" H1")).otherwise(pl.lit(" H2"))
            ).alias("cohort_half"),
            (pl.col("cumulative_net_revenue_per_customer") * pl.col("cohort_size")).alias("_rev"),
        )
        .group_by("cohort_half", "months_since_first_order")
        .agg(pl.col("_rev").sum(), pl.col("cohort_size").sum())
        .with_columns((pl.col("_rev") / pl.col("cohort_size")).alias("revenue_per_customer"))
        .drop("_rev")
        .sort("cohort_half", "months_since_first_order")
    )


def section_clv_curves(df: pl.DataFrame | None, sym: str) -> str:
    title = "Revenue per customer as cohorts age"
    sub = ("Cumulative net revenue per customer by months since the first order, "
           "first-order cohorts grouped by half-year. Higher and steeper is better.")
    if df is None or df.height == 0:
        return _card(title, sub, _missing("mart_cohort_retention"))
    c = clv_curves(df)
    n = int(c["months_since_first_order"].max()) + 1
    halves = c["cohort_half"].unique().sort().to_list()
    series = []
    for h in halves:
        part = dict(zip(*c.filter(pl.col("cohort_half") == h).select("months_since_first_order", "revenue_per_customer")))
        series.append((h, [part.get(m) for m in range(n)]))
    body = svg.line_chart(
        [str(m) for m in range(n)],
        series,
        lambda v: svg.money(v, sym),
        y_title=f"Per customer ({sym.strip()})",
        label="Cumulative revenue per customer by cohort",
    )
    return _card(title, sub + " x axis: months since first order.", body)


CSS = """
*{box-sizing:border-box}
body{margin:0;background:#f8fafc;color:#0f172a;font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif}
header{padding:24px 32px 8px}
h1{margin:0 0 4px;font-size:24px}
.meta{color:#475569;margin:0}
.kpis{display:grid;grid-template-columns:repeat(auto-fill,minmax(190px,1fr));gap:12px;padding:16px 32px}
.kpi{background:#fff;border:1px solid #e2e8f0;border-radius:10px;padding:12px 14px}
.kpi .v{font-size:22px;font-weight:650}
.kpi .l{color:#475569;font-size:12px;text-transform:uppercase;letter-spacing:.04em}
.kpi .n{color:#64748b;font-size:12px}
main{display:grid;grid-template-columns:repeat(2,minmax(0,1fr));gap:16px;padding:8px 32px 32px}
.card{background:#fff;border:1px solid #e2e8f0;border-radius:10px;padding:16px 18px}
.card.wide{grid-column:1/-1}
.card h2{margin:0 0 2px;font-size:17px}
.sub{margin:0 0 10px;color:#475569;font-size:12.5px}
.na{color:#9a3412;background:#fff7ed;padding:8px 10px;border-radius:6px}
.scroll{overflow-x:auto}
.pair{display:grid;grid-template-columns:1fr 1fr;gap:16px}
footer{color:#64748b;font-size:12px;padding:0 32px 32px}
@media (max-width:900px){main,.pair{grid-template-columns:1fr}}
@media print{body{background:#fff}.card{break-inside:avoid}}
"""


def build_report(
    frames: Mapping[str, pl.DataFrame],
    *,
    as_of_date: date | None,
    currency: str = "USD",
    shop_name: str = "Shop",
    run_id: str | None = None,
    generated_at: datetime | None = None,
    churn_after_days: int | None = None,
) -> str:
    """The whole report as one HTML string (no external references)."""
    sym = CURRENCY_SYMBOLS.get(currency.upper(), currency.upper() + " ")
    generated_at = generated_at or datetime.now(timezone.utc)
    as_of = as_of_date.strftime("%d %B %Y").lstrip("0") if as_of_date else "unknown"
    tiles = "".join(
        f'<div class="kpi"><div class="l">{escape(l)}</div><div class="v">{escape(v)}</div><div class="n">{escape(n)}</div></div>'
        for l, v, n in kpis(frames, sym)
    )
    untracked = untracked_entities(frames)
    sections = [
        section_cohort_heatmap(_usable(frames, "mart_cohort_retention")),
        section_retention_trend(_usable(frames, "mart_retention_rate")),
        section_churn_trend(_usable(frames, "mart_churn_monthly"), churn_after_days),
        section_aov_by_device(_usable(frames, "mart_aov_by_device"), sym),
        section_clv(_usable(frames, "mart_clv_summary"), sym, margin_tracked="order_lines" not in untracked),
        section_carts(_usable(frames, "mart_cart_abandonment"), sym, tracked="carts" not in untracked),
        section_support(_usable(frames, "mart_support_retention"), tracked="support_tickets" not in untracked),
        section_predictions(_usable(frames, PREDICTIONS_MART), prediction_note(frames)),
        section_clv_curves(_usable(frames, "mart_cohort_retention"), sym),
    ]
    run = f" · run {escape(run_id[:8])}" if run_id else ""
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(shop_name)} – retention report as of {escape(as_of)}</title>
<style>{CSS}</style>
</head>
<body>
<header>
<h1>{escape(shop_name)} – customer retention</h1>
<p class="meta">Data as of <strong>{escape(as_of)}</strong> (shop time zone) · money in {escape(currency.upper())} net of discounts and refunds · generated {generated_at:%Y-%m-%d %H:%M} UTC{run}</p>
</header>
<div class="kpis">{tiles}</div>
<main>
{''.join(sections)}
</main>
<footer>Built nightly from the published warehouse marts. Definitions: docs/serving.md and the dbt docs. Open the warehouse read-only for details: <code>duckdb -readonly data/warehouse.duckdb</code>.</footer>
</body>
</html>
"""


def write_report(html: str, report_dir: Path, name: str = "index.html") -> Path:
    """Write the report atomically (temp file + os.replace)."""
    import os

    report_dir = Path(report_dir)
    report_dir.mkdir(parents=True, exist_ok=True)
    path = report_dir / name
    tmp = report_dir / f".{name}.tmp-{os.getpid()}"
    tmp.write_text(html, encoding="utf-8")
    os.replace(tmp, path)
    return path
