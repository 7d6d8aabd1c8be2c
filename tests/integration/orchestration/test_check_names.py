"""Readable checks: every asset check of the Definitions has a short name, once per asset."""

from __future__ import annotations

from collections import Counter

MAX_CHECK_NAME = 40


def test_no_asset_check_name_is_over_40_characters_or_repeated_on_an_asset():
    from orchestration.definitions import defs

    keys = list(defs.resolve_asset_graph().asset_check_keys)
    assert len(keys) > 100, f"expected the dbt tests and the expectation suites as checks, got {len(keys)}"
    too_long = sorted(f"{k.asset_key.to_user_string()}:{k.name}" for k in keys if len(k.name) > MAX_CHECK_NAME)
    assert not too_long, f"check names over {MAX_CHECK_NAME} characters: {too_long}"
    # The UI cuts a name at about 40 characters: two names of one asset must differ within them.
    shown = Counter((k.asset_key, k.name[:MAX_CHECK_NAME]) for k in keys)
    repeated = sorted(f"{a.to_user_string()}:{n}" for (a, n), count in shown.items() if count > 1)
    assert not repeated, f"check names repeated on one asset: {repeated}"
    assert any(k.name == "expectation_suite" for k in keys), "the expectation suites' checks were left out"
