"""The nightly HTML report: one self-contained file a shop owner opens from disk.

Inline CSS and inline SVG only (no JavaScript, no CDN, no fonts to fetch).
`load_report_frames` reads the marts into Polars frames; every `section_*`
and `build_report` take plain frames, so tests can hand-make them. Every
number shown is a mart column: the report sorts, filters and formats, and
never aggregates (the KPI tiles are the one row of `mart_kpis`). A missing
or empty mart turns its section into a short "not available" note instead of
failing the report; an entity the shop does not track (`mart_data_coverage`
decides, the report does not re-decide) turns its sections and tiles into
"not tracked"; predictions the models could not make show "not available"
with the reason the predictions asset gave.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date, datetime, timezone
from html import escape
from pathlib import Path

import duckdb
import polars as pl

from assets.extraction.contract import ENTITIES, OTHER, UNKNOWN
from assets.marts import report_marts

from models.predictions import FIT_METADATA_TABLE

from . import svg

# The churn-risk bands and the note of a skipped fit are columns of mart_kpis.
PREDICTIONS_MART = "mart_customer_predictions"
PREDICTION_BANDS = ("low", "medium", "high")
# What each band means (mart_customer_predictions.churn_risk).
RISK_BANDS = {"low": "P(alive) 70% or more", "medium": "P(alive) 30–70%", "high": "P(alive) under 30%"}
SEGMENT_ORDER = ["champions", "loyal", "promising", "new", "at_risk", "hibernating"]
SUPPORT_CHANNEL_COLUMNS = [
    ("Tickets", "tickets", "number"),
    ("First response p50", "first_response_hours_p50", "hours"),
    ("Resolution p50", "resolution_hours_p50", "hours"),
    ("Resolution p90", "resolution_hours_p90", "hours"),
    ("Reopen rate", "reopen_rate", "pct"),
    ("CSAT", "csat_average", "score"),
]
ENTITY_LABELS = {name: entity.label for name, entity in ENTITIES.items()}
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
    "unresolved": "Ticket still open",
    "high_4_5": "High (4–5)",
    "neutral_3": "Neutral (3)",
    "low_1_2": "Low (1–2)",
    "no_score": "No score",
    "other": "Other",
}
# Catch-all values sort after the named ones in charts.
CATCH_ALL_VALUES = (OTHER, UNKNOWN)


def load_report_frames(con: duckdb.DuckDBPyConnection, schema: str = "marts") -> dict[str, pl.DataFrame]:
    """Read the marts the report reads (those that exist) into Polars frames."""
    present = {
        r[0]
        for r in con.execute("SELECT table_name FROM duckdb_tables() WHERE schema_name = ?", [schema]).fetchall()
    }
    frames = {}
    for name in report_marts():  # the marts whose yml names a report section (assets/marts.py)
        if name in present:
            frames[name] = con.sql(f'SELECT * FROM "{schema}"."{name}"').pl()
    return frames


def models_fitted_text(con: duckdb.DuckDBPyConnection) -> str | None:
    """When the predictions' models were last fitted, from the build's fit metadata; None without it."""
    schema, table = FIT_METADATA_TABLE
    try:
        row = con.execute(f'SELECT metadata FROM "{schema}"."{table}"').fetchone()
    except duckdb.Error:
        return None
    return fitted_sentence(json.loads(row[0])) if row else None


def fitted_sentence(fit: Mapping) -> str | None:
    """'Models last fitted ...' from a fit's run metadata (models.predictions.run_metadata); None if not said."""
    as_of, at = fit.get("last_fit_as_of_date"), fit.get("last_fitted_at")
    if not as_of:
        return None
    when = f" on {str(at)[:16].replace('T', ' ')} UTC" if at else ""
    tonight = "refitted tonight" if fit.get("refit") else "scored tonight with that fit"
    return f"Models last fitted on orders up to {as_of}{when}; {tonight}."


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


def kpi_row(frames: Mapping[str, pl.DataFrame]) -> dict | None:
    """The one row of `mart_kpis`, or None when the build has none."""
    df = _usable(frames, "mart_kpis")
    return None if df is None else df.row(0, named=True)


def prediction_note(frames: Mapping[str, pl.DataFrame]) -> str | None:
    """Why the predictions asset made no (or no spend) predictions; None after a full fit."""
    row = kpi_row(frames)
    return None if row is None else row["prediction_note"]


def predictions_written(frames: Mapping[str, pl.DataFrame]) -> bool:
    """The predictions asset wrote rows for this build (scored or not)."""
    row = kpi_row(frames)
    return row is not None and bool(row["predicted_customers"])


def predictions_available(frames: Mapping[str, pl.DataFrame]) -> bool:
    """Some customer has a churn-risk band from the model."""
    row = kpi_row(frames)
    return row is not None and bool(row["scored_customers"])


def _catch_all_last(values: list[str]) -> list[str]:
    return sorted(values, key=lambda v: (v in CATCH_ALL_VALUES, v))


def _card(title: str, subtitle: str, body: str, wide: bool = False) -> str:
    cls = "card wide" if wide else "card"
    return f'<section class="{cls}"><h2>{escape(title)}</h2><p class="sub">{subtitle}</p>{body}</section>'


def _f(v) -> float | None:
    return None if v is None else float(v)


# --- sections ------------------------------------------------------------------


WARMING_UP = "window warming up"


def _warming(note: str, warming: bool | None) -> str:
    return f"{note} · {WARMING_UP}" if warming else note


def _long_month(d: date) -> str:
    return d.strftime("%B %Y")


def _day(d: date) -> str:
    return d.strftime("%d %B %Y").lstrip("0")


def headline(frames: Mapping[str, pl.DataFrame]) -> list[tuple[str, str, str, str]]:
    """The first row: (label, value, what it measures, over which window) for the retention,
    churn and month-1 measures and the model's churn risk, all from the `mart_kpis` row."""
    row = kpi_row(frames)
    if row is None:
        return []
    window, churn_days, as_of = row["active_window_days"], row["churn_after_days"], row["as_of_date"]
    out = []
    if row["retention_rate"] is not None:
        out.append(("Retention rate", svg.pct(row["retention_rate"], 1),
                    _warming("of the customers active when the month began, the share still active at its end "
                             "(customers new in the month left out)", row["is_retention_window_warming_up"]),
                    f"one month, {_long_month(row['retention_month'])}; active = an order in the trailing "
                    f"{window} days"))
    out.append(("Churned", svg.pct(row["churned_share"], 1),
                f"of all {svg.number(row['customers'])} customers who ever ordered, the share whose last order "
                f"is over {churn_days} days old ({svg.number(row['churned_customers'])} customers)",
                f"as of {_day(as_of)}, every customer since the shop's first order"))
    if row["month1_retention_rate"] is not None:
        out.append(("Month-1 retention", svg.pct(row["month1_retention_rate"], 1),
                    "of new customers, the share who ordered again in the calendar month after their first order",
                    f"customers whose first order fell in {_month_label(row['month1_first_cohort'])}–"
                    f"{_month_label(row['month1_last_cohort'])}"))
    if predictions_written(frames):
        if not predictions_available(frames):
            out.append(("High churn risk", "not available", row["prediction_note"] or "no prediction",
                        f"as of {_day(as_of)}"))
        else:
            out.append(("High churn risk", svg.number(row["high_churn_risk_customers"]),
                        f"{svg.pct(row['high_churn_risk_share'], 1)} of customers: the BG/NBD model gives them under "
                        "30% chance of still being customers, judging each by their own order rhythm",
                        f"as of {_day(as_of)}, from each customer's whole order history"))
    return out


def headline_story(frames: Mapping[str, pl.DataFrame]) -> str:
    """How the first row's numbers relate, in words, with the windows from `mart_kpis` (plain text)."""
    row = kpi_row(frames)
    if row is None:
        return ""
    window, churn_days = row["active_window_days"], row["churn_after_days"]
    parts = [
        "Three measures of three different groups. "
        f"The retention rate follows the customers active at the start of one month ({window}-day window) "
        "through that month; the churned share counts every customer who ever ordered, "
        f"by the {churn_days}-day rule; month-1 retention follows only new customers into their next month. "
        "Customers who churned in earlier months are no longer in the retention rate's base, "
        "so a high retention rate can sit beside a high churned share."
    ]
    if window > churn_days:
        parts.append(f"A customer silent for {churn_days}–{window} days counts as churned and, "
                     "for the retention rate, as still active.")
    return " ".join(parts)


COMPARISON_TEXT = {
    "rule_churned_model_active": ("churned by the {rule}rule but low risk for the model",
                                  "their usual gap between orders is long, so the model expects them back"),
    "rule_active_model_churned": ("active by the {rule}rule but high risk for the model",
                                  "silent for much longer than their own rhythm"),
}


def rule_vs_model(frames: Mapping[str, pl.DataFrame], churn_after_days: int | None) -> str:
    """Where rule-based churn and the model's churn risk disagree, from `mart_churn_rule_vs_model` (plain text)."""
    df = _usable(frames, "mart_churn_rule_vs_model")
    if df is None or not predictions_available(frames):
        return ""
    rule = f"{churn_after_days}-day " if churn_after_days else ""
    lines = []
    for comparison, (what, why) in COMPARISON_TEXT.items():
        part = df.filter(pl.col("comparison") == comparison)
        if part.height:
            r = part.row(0, named=True)
            lines.append(f"{svg.number(r['customers'])} customers ({svg.pct(r['customer_share'], 1)}) are "
                         f"{what.format(rule=rule)}: {why}")
    if not lines:
        return "Rule and model agree on every customer they both judge."
    return ("Rule (no order for a fixed time) and model (each customer's own rhythm) disagree on some customers: "
            + "; ".join(lines) + ".")


def kpis(frames: Mapping[str, pl.DataFrame], sym: str) -> list[tuple[str, str, str]]:
    """(label, value, note) tiles of the second row from the `mart_kpis` row; says what the shop does not track."""
    row = kpi_row(frames)
    if row is None:
        return []
    out = []
    window = row["active_window_days"]
    out.append(("Customers", svg.number(row["customers"]), "with at least one qualifying order"))
    out.append(("Active customers", svg.number(row["active_customers"]), f"ordered in the last {window} days"))
    if row["churn_rate"] is not None:
        out.append(("Monthly churn", svg.pct(row["churn_rate"], 1),
                    _warming(f"of customers active at its start, churned in {_month_label(row['churn_month'])}",
                             row["is_churn_window_warming_up"])))
    if row["aov_12m"] is not None:
        out.append(("Average order value", svg.money(_f(row["aov_12m"]), sym, 2), "last 12 months"))
    if not row["is_carts_tracked"]:
        out.append(("Recovered revenue", "not tracked", f"no {ENTITY_LABELS['carts']} data"))
    else:
        out.append(("Recovered revenue", svg.money(_f(row["recovered_revenue_12m"]), sym), "from abandoned carts, last 12 months"))
    if predictions_written(frames):
        note = row["prediction_note"]
        if predictions_available(frames):
            if row["predicted_clv_12m"] is not None:
                out.append(("Predicted 12-month CLV", svg.money(_f(row["predicted_clv_12m"]), sym), "all customers (model)"))
            else:
                out.append(("Predicted 12-month CLV", "not available", note or "no spend prediction"))
    return out


# The notes the report opens with: the latest complete month and the last 7 days.
CHANGE_NOTE_PERIODS = [("month_vs_previous_month", "Latest complete month"), ("last_7_days", "Last 7 days")]


def section_change_notes(df: pl.DataFrame | None) -> str:
    """The sentences of `mart_change_notes` for the latest complete month and the last 7 days, as written."""
    title = "What changed"
    sub = ("Changes the shop's own history calls unusual (robust z-score), with the segments and factors "
           "that drove them; otherwise that nothing moved unusually. The numbers are in marts.mart_metric_changes.")
    if df is None or df.height == 0:
        return _card(title, sub, _missing("mart_change_notes"), wide=True)
    blocks = []
    for period, label in CHANGE_NOTE_PERIODS:
        notes = df.filter(pl.col("period") == period).sort("rank")["sentence"].to_list()
        if notes:
            items = "".join(f"<li>{escape(n)}</li>" for n in notes)
            blocks.append(f"<h3>{escape(label)}</h3><ul>{items}</ul>")
    return _card(title, sub, "".join(blocks) or _missing("mart_change_notes"), wide=True)


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


def _warming_labels(df: pl.DataFrame) -> tuple[list[str], bool]:
    """Month labels, a trailing * on months whose trailing window is still warming up; whether any is."""
    warming = df["is_window_warming_up"].to_list() if "is_window_warming_up" in df.columns else [False] * df.height
    labels = [_month_label(m) + ("*" if w else "") for m, w in zip(df["month"], warming)]
    return labels, any(warming)


def _warming_note(window_days: int | None, what: str) -> str:
    window = f"{window_days}-day" if window_days else "trailing"
    return (f" * Window warming up: the shop's first {window} window, when nobody can have left it yet, "
            f"so {what} by construction.")


def section_retention_trend(df: pl.DataFrame | None, active_window_days: int | None = None) -> str:
    title = "Retention rate by month"
    sub = ("Share of the customers active at the month's start still active at its end. "
           "Active = ordered in the trailing window.")
    if df is None or df.height == 0:
        return _card(title, sub, _missing("mart_retention_rate"))
    df = df.sort("month")
    partial = not bool(df["is_complete_month"][-1])
    labels, warming = _warming_labels(df)
    series = [("Retention rate", df["retention_rate"].to_list())]
    if "reactivation_rate" in df.columns:
        # Customers back after their window lapsed are not in the starting base: their own line,
        # on the same base, so the two lines add up to the textbook (end − new) ÷ start.
        series.append(("Reactivated", df["reactivation_rate"].to_list()))
        sub += (" Reactivated: customers back after their window lapsed, ÷ the same starting customers; "
                "retention + reactivated = the textbook (end − new customers) ÷ start.")
    body = svg.line_chart(
        labels,
        series,
        lambda v: svg.pct(v),
        y_min=None,
        y_max=1.0,
        y_title="% retained",
        open_last=partial,
        label="Retention rate trend",
    )
    if partial:
        sub += " Hollow point: month still in progress."
    if warming:
        sub += _warming_note(active_window_days, "retention is 100%")
    return _card(title, sub, body)


def section_churn_trend(df: pl.DataFrame | None, churn_after_days: int | None = None,
                        active_window_days: int | None = None) -> str:
    title = "Churn rate by month"
    rule = f"{churn_after_days} days" if churn_after_days else "the churn threshold"
    sub = (f"Customers whose last order became older than {rule} in the month, "
           "÷ active customers at the month's start.")
    if df is None or df.height == 0:
        return _card(title, sub, _missing("mart_churn_monthly"))
    df = df.sort("month")
    partial = not bool(df["is_complete_month"][-1])
    labels, warming = _warming_labels(df)
    body = svg.line_chart(
        labels,
        [("Churn rate", df["churn_rate"].to_list())],
        lambda v: svg.pct(v, 1),
        y_title="% churned",
        open_last=partial,
        label="Churn rate trend",
    )
    if warming:
        sub += _warming_note(active_window_days, "its active base only grows")
    return _card(title, sub, body)


def section_aov_by_device(df: pl.DataFrame | None, sym: str) -> str:
    title = "Average order value by device"
    sub = "Net revenue per order, last 12 months, first orders (new) vs repeat orders (returning)."
    if df is None or df.height == 0:
        return _card(title, sub, _missing("mart_aov_by_device_12m"))
    t = df.with_columns(pl.col("device").is_in(list(CATCH_ALL_VALUES)).alias("_catch_all")).sort("_catch_all", "device")
    body = svg.bar_chart(
        t["device"].to_list(),
        [("New customers", t["new_customer_aov"].to_list()), ("Returning customers", t["returning_customer_aov"].to_list())],
        lambda v: svg.money(v, sym),
        y_title=f"AOV ({sym.strip()})",
        label="AOV by device",
    )
    return _card(title, sub, body)


def section_carts(df: pl.DataFrame | None, sym: str, tracked: bool = True) -> str:
    title = "Cart abandonment and recovery"
    sub = ("Left: share of closed carts abandoned, and share of abandoned carts recovered (recovery e-mails). "
           "Right: net revenue of recovered carts per month.")
    if not tracked:
        return _card(title, sub, _not_tracked("carts"), wide=True)
    if df is None or df.height == 0:
        return _card(title, sub, _missing("mart_cart_abandonment_monthly"), wide=True)
    m = df.sort("cart_month")
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
        [("Recovered revenue", [_f(v) for v in m["recovered_revenue"].to_list()])],
        lambda v: svg.money(v, sym),
        y_title=f"Recovered revenue ({sym.strip()})",
        value_labels=False,
        label="Recovered revenue by month",
        colors=[svg.PALETTE[2]],
    )
    return _card(title, sub, f'<div class="pair"><div>{rates}</div><div>{revenue}</div></div>', wide=True)


def section_support(df: pl.DataFrame | None, tracked: bool = True) -> str:
    title = "Support experience vs retention"
    sub = ("Each bar: the share of the customers in a group who are not churned, of n customers in that group. "
           "Groups: whether the customer opened a ticket; their slowest ticket's resolution time "
           "(\u201cticket still open\u201d: at least one of their tickets has no resolution yet); "
           "the lowest satisfaction score they gave; each channel they used. "
           "A customer counts once per block (in each channel they used).")
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
            rows.append((label, r["not_churned_rate"], f"not churned, of n={r['customers']:,}"))
    body = svg.hbar_chart(rows, lambda v: svg.pct(v), x_max=1.0, label_w=250, label="Support vs retention",
                          section_breaks=breaks, width=720, right=170)
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


def section_predictions(row: dict | None, note: str | None, fitted: str | None = None) -> str:
    title = "Predicted churn risk"
    sub = ("Customers by the model's probability that they are still active (BG/NBD): "
           "low risk ≥ 70%, medium 30–70%, high below 30%.")
    if row is None or not row["predicted_customers"]:
        return _card(title, sub, _missing(PREDICTIONS_MART))
    if not row["scored_customers"]:
        reason = f" ({escape(note)})" if note else ""
        return _card(title, sub, f'<p class="na">Not available{reason}.</p>')
    rows = [(f"{band.capitalize()} risk", row[f"{band}_churn_risk_customers"], f"customers, {RISK_BANDS[band]}")
            for band in PREDICTION_BANDS]
    body = svg.hbar_chart(rows, lambda v: svg.number(v), label="Predicted churn risk", right=180)
    if note:
        sub += f" {escape(note)}."
    if fitted:
        sub += f" {escape(fitted)}"
    return _card(title, sub, body)


def section_clv_curves(df: pl.DataFrame | None, sym: str) -> str:
    title = "Revenue per customer as cohorts age"
    sub = ("Cumulative net revenue per customer by months since the first order, "
           "first-order cohorts grouped by half-year. Higher and steeper is better.")
    if df is None or df.height == 0:
        return _card(title, sub, _missing("mart_cohort_revenue_curves"))
    n = int(df["months_since_first_order"].max()) + 1
    halves = df.select("cohort_half_start", "cohort_half").unique().sort("cohort_half_start")["cohort_half"].to_list()
    series = []
    for h in halves:
        part = df.filter(pl.col("cohort_half") == h)
        values = dict(zip(part["months_since_first_order"], part["cumulative_net_revenue_per_customer"]))
        series.append((h, [values.get(m) for m in range(n)]))
    body = svg.line_chart(
        [str(m) for m in range(n)],
        series,
        lambda v: svg.money(v, sym),
        y_title=f"Per customer ({sym.strip()})",
        label="Cumulative revenue per customer by cohort",
    )
    return _card(title, sub + " x axis: months since first order.", body)


def section_segments(df: pl.DataFrame | None, sym: str) -> str:
    title = "Customer segments (RFM)"
    sub = ("Share of customers and of their net revenue per segment, from recency, frequency and spend scores: "
           "champions and loyal customers to keep, at-risk ones to win back.")
    if df is None or df.height == 0:
        return _card(title, sub, _missing("mart_segment_summary"))
    known = [g for g in SEGMENT_ORDER if g in df["segment"].to_list()]
    ordered = known + _catch_all_last([g for g in df["segment"].to_list() if g not in SEGMENT_ORDER])
    rows = []
    for g in ordered:
        r = df.filter(pl.col("segment") == g).row(0, named=True)
        label = g.replace("_", " ").capitalize()
        rows.append((f"{label}: customers", r["customer_share"], f"of customers, n={r['customers']:,}"))
        rows.append((f"{label}: revenue", r["revenue_share"], f"of revenue, {svg.money(_f(r['net_revenue']), sym)}"))
    body = svg.hbar_chart(rows, lambda v: svg.pct(v), x_max=1.0, label_w=220, label="Customer segments",
                          section_breaks=list(range(2, len(rows), 2)), right=170)
    return _card(title, sub, body)


def section_funnel(df: pl.DataFrame | None) -> str:
    title = "Repeat-purchase funnel"
    sub = ("All customers: of those who placed an order, the share who placed the next one "
           "(n = customers who did, of those who could).")
    if df is None or df.height == 0:
        return _card(title, sub, _missing("mart_repeat_purchase_funnel"))
    everyone = df.filter(pl.col("cohort") == "all")
    if everyone.height == 0:
        return _card(title, sub, _missing("mart_repeat_purchase_funnel"))
    r = everyone.row(0, named=True)
    rows = [
        ("1st → 2nd order", r["conversion_1_to_2"], f"n={r['customers_with_2_orders']:,} of {r['customers']:,}"),
        ("2nd → 3rd order", r["conversion_2_to_3"],
         f"n={r['customers_with_3_orders']:,} of {r['customers_with_2_orders']:,}"),
        ("3rd → 4th order", r["conversion_3_to_4"],
         f"n={r['customers_with_4_orders']:,} of {r['customers_with_3_orders']:,}"),
    ]
    body = svg.hbar_chart(rows, lambda v: svg.pct(v), x_max=1.0, label="Repeat-purchase funnel")
    days = r["median_days_to_second_order"]
    notes = [f"Repeat customers bring {svg.pct(r['repeat_customer_revenue_share'])} of customer revenue"]
    if days is not None:
        notes.append(f"median {svg.number(days)} days from 1st to 2nd order")
    return _card(title, sub + " " + escape("; ".join(notes)) + ".", body)


def section_support_kpis(df: pl.DataFrame | None, tracked: bool = True) -> str:
    title = "Support KPIs"
    sub = "Latest ticket month, per channel: response and resolution times in hours (median, 90th percentile), reopens, CSAT (1–5)."
    if not tracked:
        return _card(title, sub, _not_tracked("support_tickets"))
    if df is None or df.height == 0:
        return _card(title, sub, _missing("mart_support_kpis"))
    month = df["ticket_month"].max()
    latest = df.filter(pl.col("ticket_month") == month)
    latest = latest.with_columns(pl.col("channel").is_in(list(CATCH_ALL_VALUES)).alias("_c")).sort("_c", "channel")
    formats = {"number": lambda v: svg.number(v), "hours": lambda v: svg.number(v, 1),
               "pct": lambda v: svg.pct(v, 1), "score": lambda v: svg.number(v, 2)}
    head = "".join(f"<th>{escape(label)}</th>" for label, _, _ in SUPPORT_CHANNEL_COLUMNS)
    body_rows = []
    for r in latest.iter_rows(named=True):
        cells = "".join(f"<td>{escape(formats[kind](_f(r[col])))}</td>" for _, col, kind in SUPPORT_CHANNEL_COLUMNS)
        body_rows.append(f"<tr><th>{escape(str(r['channel']))}</th>{cells}</tr>")
    table = f'<table class="t"><thead><tr><th>Channel</th>{head}</tr></thead><tbody>{"".join(body_rows)}</tbody></table>'
    return _card(title, f"{sub} {escape(month.strftime('%B %Y'))}.", table)


AUDIENCE_LABELS = {
    "second_order_nudge": "Second-order nudge",
    "due_for_next_order": "Due for next order",
    "win_back": "Win back",
    "vip_at_risk": "VIP at risk",
    "cart_recovery": "Cart recovery",
    "after_bad_support": "After bad support",
}


def _change(entered, left) -> str:
    return f"+{svg.number(entered)} / −{svg.number(left)}" if left is not None else f"+{svg.number(entered)} (first build)"


def _backtest_sample_note(last: pl.DataFrame) -> str:
    """" Measured on a sample of ..." when the month-end was backtested on a sample of its customers, else ""."""
    if not {"sample_customers", "known_customers"} <= set(last.columns):
        return ""
    sample, known = last["sample_customers"][0], last["known_customers"][0]
    if sample is None or known is None or sample >= known:
        return ""
    return (f" Measured on a stable sample of {escape(svg.number(sample))} of the {escape(svg.number(known))} "
            "customers known then (members and active customers counted within it).")


def section_audiences(summary: pl.DataFrame | None, backtest: pl.DataFrame | None, sym: str) -> str:
    """"Who to contact this week": tonight's audiences (mart_audience_summary) with their backtested lift."""
    title = "Who to contact this week"
    sub = ("Customers to contact, per audience (lists: exports/audiences/, rules: docs/metrics.md). "
           "Value at stake: the members' predicted 12-month CLV. Backtest: the latest month-end rebuilt from "
           "what was known then; share of members who ordered in the next 30 days vs all active customers.")
    if summary is None or summary.height == 0:
        return _card(title, sub, _missing("mart_audience_summary"), wide=True)
    latest = summary.filter(pl.col("as_of_date") == summary["as_of_date"].max())
    tested = {}
    if backtest is not None and backtest.height:
        last = backtest.filter(pl.col("cutoff_date") == backtest["cutoff_date"].max())
        tested = {r["audience"]: r for r in last.iter_rows(named=True)}
        sub += f" Backtest month-end: {escape(last['cutoff_date'][0].isoformat())}."
        sub += _backtest_sample_note(last)
    rows = []
    order = {a: i for i, a in enumerate(AUDIENCE_LABELS)}
    for r in sorted(latest.iter_rows(named=True), key=lambda r: order.get(r["audience"], len(order))):
        label = escape(AUDIENCE_LABELS.get(r["audience"], r["audience"]))
        if not r["is_tracked"]:
            rows.append(f'<tr><th>{label}</th><td colspan="4" class="na">{escape(r["note"] or "not tracked")}</td></tr>')
            continue
        bt = tested.get(r["audience"])
        if bt is None or not bt["members"]:
            proof = "no members then" if bt is not None else "not backtested yet"
        else:
            proof = (f"{svg.pct(_f(bt['member_order_rate_30d']), 1)} vs {svg.pct(_f(bt['active_order_rate_30d']), 1)}"
                     f" (×{svg.number(_f(bt['order_rate_lift_30d']), 2)}, n={svg.number(bt['members'])})")
        rows.append(
            f"<tr><th>{label}</th><td>{escape(svg.number(r['members']))}</td>"
            f"<td>{escape(_change(r['entered_since_previous'], r['left_since_previous']))}</td>"
            f"<td>{escape(svg.money(_f(r['value_at_stake']), sym))}</td><td>{escape(proof)}</td></tr>"
        )
    head = "<th>Audience</th><th>Members</th><th>Change since previous build</th><th>Value at stake</th><th>Backtest: ordered within 30 days</th>"
    table = f'<table class="t"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'
    return _card(title, sub, table, wide=True)


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
.kpi .w{color:#334155;font-size:12px;margin-top:4px;border-top:1px solid #e2e8f0;padding-top:4px}
.headline{padding:8px 0 0}
.headline .kpis{padding-top:4px;padding-bottom:4px}
.story{margin:0;padding:0 32px;color:#334155;max-width:1100px}
main{display:grid;grid-template-columns:repeat(2,minmax(0,1fr));gap:16px;padding:8px 32px 32px}
.card{background:#fff;border:1px solid #e2e8f0;border-radius:10px;padding:16px 18px}
.card.wide{grid-column:1/-1}
.card h2{margin:0 0 2px;font-size:17px}
.sub{margin:0 0 10px;color:#475569;font-size:12.5px}
.na{color:#9a3412;background:#fff7ed;padding:8px 10px;border-radius:6px}
.scroll{overflow-x:auto}
.pair{display:grid;grid-template-columns:1fr 1fr;gap:16px}
.t{border-collapse:collapse;width:100%;font-size:13px}
.t th,.t td{padding:5px 8px;border-bottom:1px solid #e2e8f0;text-align:right}
.t th:first-child{text-align:left}
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
    links: Mapping[str, str] | None = None,
    models_fitted: str | None = None,
) -> str:
    """The whole report as one HTML string (no external references but `links`: label -> file:// URL).

    `models_fitted`: when the predictions' models were last fitted (`models_fitted_text`).
    """
    sym = CURRENCY_SYMBOLS.get(currency.upper(), currency.upper() + " ")
    generated_at = generated_at or datetime.now(timezone.utc)
    as_of = as_of_date.strftime("%d %B %Y").lstrip("0") if as_of_date else "unknown"
    tiles = "".join(
        f'<div class="kpi"><div class="l">{escape(l)}</div><div class="v">{escape(v)}</div><div class="n">{escape(n)}</div></div>'
        for l, v, n in kpis(frames, sym)
    )
    untracked = untracked_entities(frames)
    row = kpi_row(frames)
    window = row["active_window_days"] if row else None
    first_row = headline_html(frames, churn_after_days or (row["churn_after_days"] if row else None))
    support_tracked = "support_tickets" not in untracked
    sections = [
        section_change_notes(_usable(frames, "mart_change_notes")),
        section_cohort_heatmap(_usable(frames, "mart_cohort_retention")),
        section_retention_trend(_usable(frames, "mart_retention_rate"), window),
        section_churn_trend(_usable(frames, "mart_churn_monthly"),
                            churn_after_days or (row["churn_after_days"] if row else None), window),
        section_aov_by_device(_usable(frames, "mart_aov_by_device_12m"), sym),
        section_clv(_usable(frames, "mart_clv_summary"), sym, margin_tracked="order_lines" not in untracked),
        section_segments(_usable(frames, "mart_segment_summary"), sym),
        section_funnel(_usable(frames, "mart_repeat_purchase_funnel")),
        section_carts(_usable(frames, "mart_cart_abandonment_monthly"), sym, tracked="carts" not in untracked),
        section_support(_usable(frames, "mart_support_retention"), tracked=support_tracked),
        section_support_kpis(_usable(frames, "mart_support_kpis"), tracked=support_tracked),
        section_predictions(row, prediction_note(frames), models_fitted),
        section_clv_curves(_usable(frames, "mart_cohort_revenue_curves"), sym),
        section_audiences(_usable(frames, "mart_audience_summary"), _usable(frames, "mart_audience_backtest"), sym),
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
{first_row}
<div class="kpis">{tiles}</div>
<main>
{''.join(sections)}
</main>
<footer>Built nightly from the published warehouse marts. {_links(links)}Open the warehouse read-only for details: <code>duckdb -readonly data/warehouse.duckdb</code>.</footer>
</body>
</html>
"""


def headline_html(frames: Mapping[str, pl.DataFrame], churn_after_days: int | None) -> str:
    """The first row: how the headline measures relate, their tiles (what each measures, over which
    window), and where rule-based churn and the model disagree."""
    tiles = headline(frames)
    if not tiles:
        return ""
    cells = "".join(
        f'<div class="kpi"><div class="l">{escape(l)}</div><div class="v">{escape(v)}</div>'
        f'<div class="n">{escape(m)}</div><div class="w">{escape(w)}</div></div>'
        for l, v, m, w in tiles
    )
    disagreement = rule_vs_model(frames, churn_after_days)
    return (f'<section class="headline"><p class="story">{escape(headline_story(frames))}</p>'
            f'<div class="kpis">{cells}</div>'
            + (f'<p class="story disagree">{escape(disagreement)}</p>' if disagreement else "")
            + "</section>")


def _links(links: Mapping[str, str] | None) -> str:
    if not links:
        return "Definitions: the dbt docs (<code>make docs</code>). "
    return " · ".join(f'<a href="{escape(url)}">{escape(label)}</a>' for label, url in links.items()) + ". "


# Report section -> the function that draws it. A mart's yml names the sections
# that read it (`meta.retention.report`); tests/unit/test_marts_registry.py
# fails when a section named there has no function here, or the reverse.
SECTIONS = {
    "change_notes": section_change_notes,
    "headline": headline,
    "rule_vs_model": rule_vs_model,
    "kpi_tiles": kpis,
    "coverage": untracked_entities,
    "cohort_heatmap": section_cohort_heatmap,
    "retention_trend": section_retention_trend,
    "churn_trend": section_churn_trend,
    "aov_by_device": section_aov_by_device,
    "clv": section_clv,
    "segments": section_segments,
    "funnel": section_funnel,
    "carts": section_carts,
    "support": section_support,
    "support_kpis": section_support_kpis,
    "predictions": section_predictions,
    "clv_curves": section_clv_curves,
    "audiences": section_audiences,
}


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
