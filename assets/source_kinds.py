"""The source kinds registry: one entry per kind of shop source (`RETENTION_SOURCE`).

An entry says what the kind needs from the environment and which section of
the shop's `retention.yml` holds its options; settings validation
(assets/settings.py), the `RETENTION_SOURCE` help, the allowed sections of
`retention.yml` (assets/user_config.py) and the docs checks read it. The
constructor of each kind's source is its entry in `SOURCE_BUILDERS`
(assets/extraction/builders.py). This module imports nothing of the project: settings
and user_config both read it. docs/architecture.md ("Adding a source kind")
lists what a new kind needs.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SourceKind:
    name: str
    summary: str  # one line for the docs
    # What RETENTION_LANDING_DIR must hold for this kind; None: the kind reads no folder.
    landing_dir: str | None = None
    # An environment variable the kind cannot run without, and what it must hold.
    required_env: tuple[str, str] | None = None
    # Its section of retention.yml (assets/user_config.py); None: it has no options there.
    config_section: str | None = None
    docs: str = "README.md"  # where a user reads how to set it up


SOURCE_KINDS: dict[str, SourceKind] = {k.name: k for k in (
    SourceKind("sample_shop", "a generated shop (seeded; two years of history)"),
    SourceKind("landing", "CSV/Parquet/JSON files, one sub-folder per entity",
               landing_dir="a folder with one sub-folder per entity", config_section="landing",
               docs="docs/mappings.md"),
    SourceKind("shopify_csv", "Shopify's orders exports (orders_export*.csv)",
               landing_dir="the folder of Shopify orders_export*.csv files", config_section="shopify",
               docs="docs/shopify.md"),
    SourceKind("postgres", "the shop's PostgreSQL database, read-only",
               required_env=("RETENTION_POSTGRES_URL", "postgresql://user:password@host:port/database"),
               config_section="postgres", docs="docs/postgres.md"),
)}


def kind_list(names=None) -> str:
    """`a`, `b` or `c`: the kinds for a help text."""
    quoted = [f"`{n}`" for n in (names or SOURCE_KINDS)]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " or " + quoted[-1]
