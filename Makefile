# One entry point for people and CI. `make run` and `make test` are the README's two commands.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# dbt and Great Expectations must not wait on a closed network for usage statistics.
export DO_NOT_TRACK := 1
export GX_ANALYTICS_ENABLED := false
# One Dagster instance per data folder (assets/warehouse.py DataLayout.dagster_home):
# runs, `make where`, the UI and the schedule of one shop never show another's.
# An explicit DAGSTER_HOME still wins. A relative data folder is relative to here, as in assets/settings.py.
# `dagster dev` reads .env too: a data folder set only there counts here as well.
ENV_FILE_DATA_DIR := $(shell test -f .env && sed -n 's/^[[:space:]]*RETENTION_DATA_DIR[[:space:]]*=[[:space:]]*//p' .env | tail -n 1 | tr -d "\"'")
RETENTION_DATA_DIR ?= $(or $(ENV_FILE_DATA_DIR),data)
export RETENTION_DATA_DIR
export DAGSTER_HOME ?= $(abspath $(RETENTION_DATA_DIR))/dagster_home

.PHONY: setup setup-spark lock manifest check-config dagster-home run test test-fast dev docs bench bench-spark where clean

# pyproject.toml says which versions the code supports; constraints.txt pins
# the ones the tests passed with, so every clone installs the same set.
# Two stamps: the DuckDB pipeline and the tests' tools (.installed), and the
# `spark` extra on top (.installed-spark, about 1 GB of PySpark and its JVM
# jars), which only `make test` and RETENTION_ENGINE=spark need.
$(BIN)/.installed: pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	@touch $@

$(BIN)/.installed-spark: $(BIN)/.installed
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev,spark]'
	@touch $@

setup: $(BIN)/.installed
setup-spark: $(BIN)/.installed-spark

# What the configured engine needs: the spark extra only for RETENTION_ENGINE=spark.
ENGINE_SETUP := $(if $(filter spark,$(RETENTION_ENGINE)),setup-spark,setup)

# Rewrite constraints.txt from what .venv has installed. To move a version:
# change its range in pyproject.toml (or not), `.venv/bin/python -m pip install
# -U -e '.[dev,spark]'`, run `make test`, then `make lock` and commit both files.
lock: setup-spark
	$(BIN)/python scripts/lock.py

# The dbt manifest is built without a database connection (dbt parse), and
# only when a file of the dbt project (or the installed packages) changed
# since the last parse: `make run` otherwise pays a parse on every call.
# A full parse (~4 s): dbt 1.11's partial parse drops the `description:` that
# a `data_tests:` yml gives a singular test, and the asset checks show it.
DBT_PROJECT_FILES := $(shell find dbt_project \( -path dbt_project/target -o -path dbt_project/logs \
	-o -path dbt_project/dbt_packages \) -prune -o -type f -print)
MANIFEST := dbt_project/target/manifest.json

$(MANIFEST): $(BIN)/.installed $(DBT_PROJECT_FILES)
	cd dbt_project && ../$(BIN)/dbt parse --quiet --no-partial-parse --profiles-dir .
	@touch $@

manifest: $(MANIFEST)

# Bad RETENTION_* values stop here with one line, before Dagster prints its
# import traceback around the same message.
check-config: $(ENGINE_SETUP)
	@$(BIN)/python -m assets.settings

# The instance config (run monitoring, one run at a time, no telemetry) lives
# in the project's dagster.yaml; Dagster reads it from DAGSTER_HOME (the data folder's dagster_home/).
dagster-home:
	@mkdir -p "$(DAGSTER_HOME)"
	@cp dagster.yaml "$(DAGSTER_HOME)/dagster.yaml"

# The console at INFO (orchestration/console.yaml); the summary is printed
# after a failed run too, and make still exits with the run's status.
# Warnings that say nothing about the run are kept off its console: the CLI's
# own "superseded" notice, a beta parameter inside Dagster's asset selection,
# and PySpark's pandas-version notice (PySpark is imported by Great
# Expectations when the spark extra is installed). -W applies to this process only.
QUIET_WARNINGS := -W "ignore:Function \`asset_materialize_command\` is superseded" \
	-W "ignore:Parameter \`include_sources\`" -W "ignore:PySpark does not yet fully support pandas"

run: check-config manifest dagster-home
	$(BIN)/python $(QUIET_WARNINGS) -m dagster asset materialize -m orchestration.definitions --select '*' -c orchestration/console.yaml; \
		status=$$?; $(BIN)/python -m orchestration.where; exit $$status

# Everything (unit, integration, end to end), Spark included, on two workers;
# the order and grouping of the slow tests are in tests/conftest.py.
test: manifest setup-spark
	$(BIN)/python -m pytest -n 2

# The unit tests only (pure functions; they read the dbt manifest but run no dbt), in one process.
test-fast: manifest
	$(BIN)/python -m pytest tests/unit -q

dev: check-config manifest dagster-home
	$(BIN)/dagster dev

# dbt docs (model and column docs, metric glossary) as one static page that opens from disk,
# from the build warehouse of RETENTION_DATA_DIR with that shop's time zone and windows
# (assets/serving/dbt_docs.py); each run rebuilds it when its content would change (project, vars or columns).
docs: check-config manifest
	@$(BIN)/python -m orchestration.docs

# The quality checks it reads name their marts from the dbt manifest (the marts registry).
where: manifest
	$(BIN)/python -m orchestration.where

# The whole pipeline at 1M orders (full run, two nights) beside bare DuckDB
# anchors, with the goals' verdicts (docs/benchmarks.md). BENCH_ORDERS=10000000
# for the long one; BENCH_ARGS='--markdown FILE' to keep the table.
BENCH_ORDERS ?= 1000000
bench: manifest
	$(BIN)/python bench/bench_pipeline.py --orders $(BENCH_ORDERS) $(BENCH_ARGS)

# The full run on Spark local[2] beside DuckDB over the same landing files,
# side by side per stage (docs/benchmarks.md, "Spark local[2] vs DuckDB").
# The Spark JVM gets the heap DuckDB gets by default (RETENTION_DUCKDB_MEMORY_LIMIT, 3GB).
BENCH_SPARK_MEMORY ?= 3g
bench-spark: manifest setup-spark
	$(BIN)/python bench/bench_pipeline.py --orders $(BENCH_ORDERS) --engine both --runs full \
		--spark-driver-memory $(BENCH_SPARK_MEMORY) $(BENCH_ARGS)

clean:
	rm -rf data .dagster_home dbt_project/target dbt_project/logs
