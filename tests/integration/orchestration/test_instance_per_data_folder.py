"""One Dagster instance per data folder: two shops run from one clone never see each other's runs."""

from __future__ import annotations

import os
import subprocess

import dagster as dg
from dagster._core.instance import DagsterInstance

from assets.settings import PROJECT_ROOT
from assets.warehouse import DataLayout


def _env(data_dir, **extra) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RETENTION_") and k != "DAGSTER_HOME"}
    return {**env, "RETENTION_DATA_DIR": str(data_dir), **extra}


def _make(target: str, env: dict[str, str]) -> str:
    out = subprocess.run(["make", "-s", target], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return out.stdout


def _one_run(home) -> str:
    @dg.asset
    def shop_marker() -> None:
        return None

    with DagsterInstance.from_config(str(home)) as instance:
        return dg.materialize([shop_marker], instance=instance).run_id


def test_two_data_folders_get_two_instances_and_where_shows_only_its_own_run(tmp_path):
    shop_a, shop_b = tmp_path / "shop_a", tmp_path / "shop_b"
    for shop in (shop_a, shop_b):
        _make("dagster-home", _env(shop))
        assert (DataLayout(shop).dagster_home / "dagster.yaml").is_file(), f"make put no instance config in {shop}"
    run_a = _one_run(DataLayout(shop_a).dagster_home)
    run_b = _one_run(DataLayout(shop_b).dagster_home)

    where_a, where_b = _make("where", _env(shop_a)), _make("where", _env(shop_b))
    assert run_a in where_a and run_b not in where_a, where_a
    assert run_b in where_b and run_a not in where_b, where_b
    assert f"dagster instance:     {DataLayout(shop_a).dagster_home}" in where_a


def test_an_explicit_dagster_home_still_wins(tmp_path):
    home = tmp_path / "elsewhere"
    _make("dagster-home", _env(tmp_path / "shop", DAGSTER_HOME=str(home)))
    assert (home / "dagster.yaml").is_file()
    assert not DataLayout(tmp_path / "shop").dagster_home.exists()
    run = _one_run(home)
    assert run in _make("where", _env(tmp_path / "shop", DAGSTER_HOME=str(home)))


def test_a_data_folder_set_only_in_dot_env_gets_its_own_instance_too(tmp_path):
    # `dagster dev` reads .env: make must derive the instance from the same folder.
    import shutil

    shutil.copy(PROJECT_ROOT / "Makefile", tmp_path / "Makefile")
    (tmp_path / ".env").write_text(f'RETENTION_SHOP_NAME="A shop"\nRETENTION_DATA_DIR="{tmp_path / "from_env"}"\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("RETENTION_") and k != "DAGSTER_HOME"}
    out = subprocess.run(["make", "-s", "-n", "dagster-home"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert f'mkdir -p "{tmp_path / "from_env" / "dagster_home"}"' in out.stdout
