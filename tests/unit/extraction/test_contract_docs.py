"""docs/source-contract.md says what the contract does: vocabularies, open sets, file columns."""

import re

import pytest

from assets.extraction.contract import ENTITIES, SHOP_CURRENCY, STATUS_SYNONYMS
from assets.settings import PROJECT_ROOT

DOC = (PROJECT_ROOT / "docs" / "source-contract.md").read_text()


def entity_rows(entity: str) -> dict[str, list[str]]:
    """The entity's table: column -> [type, in file, default, rule]."""
    section = DOC.split(f"### {entity} ")[1].split("\n#")[0]
    rows = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 5 and not set(cells[0]) <= set("-") and cells[0] != "column":
            rows[cells[0].strip("*")] = cells[1:]
    return rows


def test_the_status_table_lists_every_synonym_and_nothing_else():
    documented = set(re.findall(r"^\| (\w+) \| `(\w+)` \| (\w+) \|$", DOC, flags=re.M))
    expected = {(key.split(".")[0], spelling, value)
                for key, table in STATUS_SYNONYMS.items() for spelling, value in table.items()}
    assert documented == expected


@pytest.mark.parametrize("entity", list(ENTITIES))
def test_each_entity_table_says_which_columns_a_file_must_have(entity):
    rows = entity_rows(entity)
    e = ENTITIES[entity]
    assert list(rows) == e.column_names
    must = [c for c, cells in rows.items() if cells[1] == "must"]
    assert must == e.file_required_columns
    for group in e.one_of:
        for c in group:
            if c in rows:
                assert rows[c][1] == "one of " + ", ".join(group)


@pytest.mark.parametrize("entity", list(ENTITIES))
def test_each_default_is_documented(entity):
    rows = entity_rows(entity)
    for col in ENTITIES[entity].columns:
        cell = rows[col.name][2]
        if col.default == SHOP_CURRENCY:
            assert cell == "the shop currency"
        elif col.default is not None:
            assert cell.strip("`") == col.default, col.name
        elif col.default_from and "." not in col.default_from and col.default_from != "total":
            assert cell == f"`{col.default_from}`", col.name
        elif col.default_from:
            assert cell and cell != "(empty)", col.name
        else:
            assert cell in ("", "(empty)"), col.name
        assert ("open set" in rows[col.name][0]) == col.open_set, col.name


def test_every_open_set_column_is_in_the_open_set_table():
    for e in ENTITIES.values():
        for col in e.open_set_columns:
            line = next((ln for ln in DOC.splitlines() if ln.startswith(f"| {e.name}.{col.name} |")), None)
            assert line is not None, f"{e.name}.{col.name}"
            assert ", ".join(col.allowed) in line and col.original_column in line


def test_every_ordering_reason_is_documented():
    for e in ENTITIES.values():
        for later, earlier in e.ordering:
            assert f"`out_of_order:{later}_before_{earlier}`" in DOC
