"""Checks of the change marts shared by the shop scenarios (hand-built, orders-only, CDNOW).

The arithmetic itself (every decomposition adds up, the notes state mart
values) is dbt's singular tests; a scenario asserts that those tests ran and
passed on its build and that both marts have rows.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

CHANGE_MARTS = ("mart_metric_changes", "mart_change_notes")
CHANGE_TESTS = ("metric_changes_add_up", "change_notes_match_metric_changes", "metric_changes_totals_match_owner_marts")


def dbt_statuses(run_results: Path) -> dict[str, str]:
    """{node name: status} of one dbt invocation's run_results.json."""
    results = json.loads(Path(run_results).read_text())["results"]
    return {r["unique_id"].split(".")[2]: r["status"] for r in results}


def change_mart_problems(query: Callable[[str], list[tuple]], statuses: dict[str, str]) -> list[str]:
    """One line per problem: a change mart without rows, or a change test that did not run and pass."""
    problems = []
    for mart in CHANGE_MARTS:
        if statuses.get(mart) != "success":
            problems.append(f"{mart}: dbt status {statuses.get(mart)!r}, expected 'success'")
        elif query(f"select count(*) from marts.{mart}") == [(0,)]:
            problems.append(f"{mart}: no rows")
    for test in CHANGE_TESTS:
        if statuses.get(test) != "pass":
            problems.append(f"dbt test {test}: status {statuses.get(test)!r}, expected 'pass'")
    return problems
