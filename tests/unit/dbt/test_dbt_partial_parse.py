"""Each dbt run starts from the previous run's parse, not from a full parse of the project."""

import os

from assets.dbt import PARTIAL_PARSE_FILE, latest_partial_parse, seed_partial_parse


def _run_folder(root, run, mtime, step="retention_dbt"):
    folder = root / run / step
    folder.mkdir(parents=True)
    (folder / PARTIAL_PARSE_FILE).write_bytes(run.encode())
    os.utime(folder / PARTIAL_PARSE_FILE, (mtime, mtime))
    return folder


def test_the_newest_previous_parse_is_copied_into_the_new_run_folder(tmp_path):
    _run_folder(tmp_path, "old", 1_000)
    newest = _run_folder(tmp_path, "newest", 3_000)
    _run_folder(tmp_path, "middle", 2_000)
    target = tmp_path / "this_run" / "retention_dbt"
    assert seed_partial_parse(tmp_path, target) == newest / PARTIAL_PARSE_FILE
    assert (target / PARTIAL_PARSE_FILE).read_bytes() == b"newest"


def test_the_run_folder_itself_is_not_its_own_source(tmp_path):
    _run_folder(tmp_path, "old", 1_000)
    mine = _run_folder(tmp_path, "this_run", 5_000)
    assert latest_partial_parse(tmp_path, exclude=mine).parent.parent.name == "old"
    # a parse already in place is kept
    assert seed_partial_parse(tmp_path, mine) is None
    assert (mine / PARTIAL_PARSE_FILE).read_bytes() == b"this_run"


def test_a_first_run_has_nothing_to_reuse(tmp_path):
    assert latest_partial_parse(tmp_path / "missing") is None
    assert seed_partial_parse(tmp_path / "missing", tmp_path / "run" / "step") is None
    assert not (tmp_path / "run").exists()
