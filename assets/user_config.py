"""The shop's own configuration file, `retention.yml`: what a user may tune without code.

One YAML file, found in this order (the first that exists wins):

1. the path in `RETENTION_CONFIG_FILE`;
2. `retention.yml` in the landing folder (it travels with the exports);
3. `retention.yml` in the data folder;
4. `retention.yml` in the project folder.

Each top-level section belongs to one part of the pipeline, which reads and
validates its own section (`section(config, name)`):

- `quality`: severities and thresholds of the quality rules;
- `landing`: how the landing folder's files are read (CSV dialect) and, per
  entity, where they are and the query that maps them (extraction/mapping.py);
- `shopify`: options of the Shopify orders-export source;
- `postgres`: the per-entity queries of the PostgreSQL source;
- `audiences`: thresholds of the daily audiences (assets/audiences.py).

An unknown top-level key is an error (a typo must not be ignored silently).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from assets.source_kinds import SOURCE_KINDS

CONFIG_ENV = "RETENTION_CONFIG_FILE"
FILE_NAME = "retention.yml"
# `quality` and `audiences`, and each source kind's section (assets/source_kinds.py).
SECTIONS = ("quality", *(k.config_section for k in SOURCE_KINDS.values() if k.config_section), "audiences")
PROJECT_ROOT = Path(__file__).resolve().parent.parent


class UserConfigError(ValueError):
    """The configuration file cannot be used; the message names the file and the key."""


def find_config_file(
    explicit: str | Path | None = None,
    landing_dir: str | Path | None = None,
    data_dir: str | Path | None = None,
    project_dir: str | Path | None = PROJECT_ROOT,
) -> Path | None:
    """The configuration file in force, or None when the shop has none."""
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise UserConfigError(f"{CONFIG_ENV}={explicit}: no such file")
        return path.resolve()
    for folder in (landing_dir, data_dir, project_dir):
        if folder and (Path(folder) / FILE_NAME).is_file():
            return (Path(folder) / FILE_NAME).resolve()
    return None


def load_user_config(path: str | Path | None) -> dict[str, Any]:
    """The parsed file (an empty dict without one)."""
    if path is None:
        return {}
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise UserConfigError(f"{path}: not valid YAML: {str(exc).splitlines()[0]}") from exc
    except OSError as exc:
        raise UserConfigError(f"{path}: cannot be read: {exc.strerror}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UserConfigError(f"{path}: expected a mapping of sections ({', '.join(SECTIONS)}) at the top level")
    unknown = sorted(set(data) - set(SECTIONS))
    if unknown:
        raise UserConfigError(
            f"{path}: unknown section(s) {', '.join(map(str, unknown))}; known: {', '.join(SECTIONS)}"
        )
    for name, value in data.items():
        if value is not None and not isinstance(value, dict):
            raise UserConfigError(f"{path}: section {name!r} must be a mapping, got {type(value).__name__}")
    data["_path"] = str(path)
    return data


def section(config: dict[str, Any], name: str) -> dict[str, Any]:
    """One section of a loaded file ({} when absent)."""
    if name not in SECTIONS:
        raise KeyError(f"unknown section {name!r}")
    return dict(config.get(name) or {})


def source_of(config: dict[str, Any]) -> str:
    """Where a loaded configuration came from, for error messages."""
    return config.get("_path", FILE_NAME)
