"""Every asset in the Definitions has an owner, kinds and a reference to the code that builds it."""

from pathlib import Path

import dagster as dg
import pytest

from assets.ownership import DATA_TEAM


@pytest.fixture(scope="module")
def asset_graph():
    from orchestration.definitions import defs

    return defs.resolve_asset_graph()


def _materializable(graph):
    return [graph.get(k) for k in graph.get_all_asset_keys() if graph.get(k).is_materializable]


def _code_files(node) -> list[Path]:
    refs = node.metadata.get("dagster/code_references")
    return [Path(r.file_path) for r in (refs.code_references if refs else []) if isinstance(r, dg.LocalFileCodeReference)]


def test_every_asset_has_an_owner_and_kinds(asset_graph):
    nodes = _materializable(asset_graph)
    assert nodes
    for node in nodes:
        assert node.owners, f"{node.key.to_user_string()}: no owner"
        assert node.kinds, f"{node.key.to_user_string()}: no kinds"


def test_every_asset_points_to_a_local_source_file_that_exists(asset_graph):
    for node in _materializable(asset_graph):
        files = _code_files(node)
        assert files, f"{node.key.to_user_string()}: no code reference"
        for path in files:
            assert path.is_file(), f"{node.key.to_user_string()}: code reference {path} is not a file"


def test_dbt_models_point_to_their_model_file(asset_graph):
    models = [n for n in _materializable(asset_graph) if "dbt" in n.kinds]
    assert models
    for node in models:
        # A SQL model, or a dbt Python model (the predictions).
        files = [p for p in _code_files(node) if "dbt_project" in p.parts and p.suffix in (".sql", ".py")]
        assert [p.stem for p in files] == [node.key.path[-1]], f"{node.key.to_user_string()}: model files {files}"


def test_an_asset_without_an_owner_gets_the_data_team_and_a_named_owner_is_kept():
    from orchestration.definitions import owned_and_referenced

    @dg.asset
    def unowned():
        return 1

    @dg.asset(owners=["alice@example.com"])
    def owned():
        return 1

    mapped = {a.key.path[-1]: a for a in owned_and_referenced([unowned, owned])}
    assert mapped["unowned"].specs_by_key[dg.AssetKey("unowned")].owners == [DATA_TEAM]
    assert mapped["owned"].specs_by_key[dg.AssetKey("owned")].owners == ["alice@example.com"]
    refs = mapped["unowned"].specs_by_key[dg.AssetKey("unowned")].metadata["dagster/code_references"]
    assert Path(refs.code_references[0].file_path) == Path(__file__)
