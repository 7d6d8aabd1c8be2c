"""Which selected dbt models a Spark step builds before the predictions fit, and which after (pure, unit-tested).

dbt-spark's `session` method runs no dbt Python models, so on Spark the
predictions are fitted between two dbt builds (assets/dbt/engines/spark.py):
the first builds what the fit reads, the second what reads the fit.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import dagster as dg

from assets.dbt.project import PREDICTIONS_KEY

# The tables the predictions are fitted from, as Spark writes them (schema, table).
FIT_INPUTS = {"orders": ("intermediate", "int_customer_orders"), "as_of": ("intermediate", "int_as_of_date")}


def downstream_of(deps: Mapping[dg.AssetKey, Iterable[dg.AssetKey]], keys: Iterable[dg.AssetKey]) -> set[dg.AssetKey]:
    """Every asset downstream of any of `keys` in `deps` ({asset: its upstream assets}; pure, unit-tested)."""
    roots = set(keys)
    downstream: set[dg.AssetKey] = set()
    grew = True
    while grew:
        grew = False
        for asset, upstream in deps.items():
            if asset not in downstream and (roots | downstream) & set(upstream):
                downstream.add(asset)
                grew = True
    return downstream


@dataclass(frozen=True)
class SparkPlan:
    """What one Spark dbt step runs: the models of the first build, the fit, the models of the second."""

    first: tuple[str, ...]
    fit: bool
    second: tuple[str, ...]
    # Checks that read a model of each build: neither build can run them (see spark_plan).
    unplanned_checks: tuple[tuple[str, ...], ...] = ()


def spark_plan(selected: Iterable[dg.AssetKey], deps: Mapping[dg.AssetKey, Iterable[dg.AssetKey]],
               test_links: Iterable[Iterable[dg.AssetKey]] = ()) -> SparkPlan:
    """Split the selected dbt models around the predictions fit (pure, unit-tested).

    The second build takes the models that read the predictions, and with
    them every model a data test ties to one of those (`test_links`: the
    assets each test reads), and everything downstream: a test runs in one
    dbt build, after all the tables it reads. The first build takes the
    rest. The predictions model itself is the fit, never a dbt node on Spark.
    The fit's own inputs and everything upstream of them stay in the first
    build whatever a test ties them to (the fit reads them): a test that
    reads one of those and a model of the second build is returned in
    `unplanned_checks`, for the step to name, since neither build runs it.
    """
    selected = set(selected)
    links = [set(link) for link in test_links]
    fit_inputs = {k for k in deps if k.path[-1] in {table for _, table in FIT_INPUTS.values()}}
    pinned = fit_inputs | upstream_of(deps, fit_inputs)
    after = downstream_of(deps, [PREDICTIONS_KEY])
    grew = True
    while grew:
        tied = set().union(*(link for link in links if link & after)) - {PREDICTIONS_KEY} - pinned
        wider = after | tied | downstream_of(deps, tied)
        grew, after = wider != after, wider
    names = lambda keys: tuple(sorted(k.path[-1] for k in keys))  # noqa: E731
    return SparkPlan(
        first=names(selected - after - {PREDICTIONS_KEY}),
        fit=PREDICTIONS_KEY in selected,
        second=names(selected & after),
        unplanned_checks=tuple(sorted({names(link) for link in links if link & after and link & pinned})),
    )


def upstream_of(deps: Mapping[dg.AssetKey, Iterable[dg.AssetKey]], keys: Iterable[dg.AssetKey]) -> set[dg.AssetKey]:
    """Every asset upstream of any of `keys` in `deps` (pure)."""
    upstream: set[dg.AssetKey] = set()
    todo = list(keys)
    while todo:
        for parent in deps.get(todo.pop(), ()):
            if parent not in upstream:
                upstream.add(parent)
                todo.append(parent)
    return upstream


def check_links(assets_def: dg.AssetsDefinition) -> list[set[dg.AssetKey]]:
    """The assets each of a multi-asset's checks reads: its target and its additional dependencies."""
    return [{spec.asset_key, *(dep.asset_key for dep in spec.additional_deps)} for spec in assets_def.check_specs]
