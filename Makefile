# AAITI — two commands: `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# Keep every tool offline and quiet, and its state inside the project (shared/STACK.md).
export DO_NOT_TRACK := true
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS := 60
export MLFLOW_DISABLE_TELEMETRY := true
export DBT_SEND_ANONYMOUS_USAGE_STATS := false
export STREAMLIT_BROWSER_GATHER_USAGE_STATS := false
export OMP_WAIT_POLICY := PASSIVE
AAITI_DATA_DIR ?= $(CURDIR)/data
export AAITI_DATA_DIR
export PREFECT_HOME ?= $(AAITI_DATA_DIR)/prefect
export PYTHONPATH := $(CURDIR)

.PHONY: results setup demo test test-fast bench soak lint types format clean help mlflow up status down dashboard browser screenshot

help:
	@echo "make setup  - create .venv and install the locked dependencies"
	@echo "make demo   - set up, run the pipeline on the bundled real candles, say where to look"
	@echo "make test   - run the whole test suite"
	@echo "make test-fast - the pure cores and adapters (no servers): the loop while editing"
	@echo "make bench  - run the benchmarks (JSON results in benchmarks/results/)"
	@echo "make results - run the demo, then write the README's and docs' result figures"
	@echo "make soak   - the served stack for 200 bars under injected faults (about an hour)"
	@echo "make lint   - ruff, and the layers contract (import-linter)"
	@echo "make types  - mypy: strict on the split stage cores, checked on the strategy"
	@echo "make mlflow - the MLflow UI on http://127.0.0.1:5000 (runs, models, champion)"
	@echo "make up     - the local stack in the background: Prefect server + UI, MLflow UI,"
	@echo "              dashboard, served schedules; prints the URLs (make status / make down)"

setup: $(STAMP)

$(STAMP): requirements.lock pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else "AAITI needs Python 3.11 (set PYTHON=python3.11)")'
	$(PYTHON) -m venv $(VENV)
	@if $(BIN)/python -m pip install -q uv 2>/dev/null; then \
		echo "installing the lock with uv"; \
		$(BIN)/uv pip sync -q --python $(BIN)/python requirements.lock && \
		$(BIN)/uv pip install -q --python $(BIN)/python --no-deps -e . ; \
	else \
		echo "uv unavailable: installing the lock with pip"; \
		$(BIN)/python -m pip install -q -r requirements.lock && \
		$(BIN)/python -m pip install -q --no-deps -e . ; \
	fi
	@touch $(STAMP)

demo: setup
	@mkdir -p $(PREFECT_HOME)
	$(BIN)/python -m flows.demo
	@$(BIN)/aaiti status
	@echo
	@echo "Done. Where to look:"
	@echo "  everything:       make up → Prefect UI http://127.0.0.1:4200 (flow runs, artifacts, schedules),"
	@echo "                    dashboard http://127.0.0.1:8501, MLflow UI http://127.0.0.1:5000; make down stops it"
	@echo "  dashboard only:   make dashboard → http://127.0.0.1:8501"
	@echo "  drift reports:    data/reports/drift/*.html   ·   SQL: monitoring.drift_runs, monitoring.alerts"
	@echo "  SQL (read-only):  duckdb -readonly data/serving.duckdb"
	@echo "                    e.g. SELECT * FROM marts.fct_features WHERE timeframe = '4h' ORDER BY ts DESC LIMIT 5;"
	@echo "                    (no duckdb shell? $(BIN)/python -c \"import duckdb; print(duckdb.connect('data/serving.duckdb', read_only=True).sql('FROM marts.fct_features ORDER BY ts DESC LIMIT 5'))\")"
	@echo "  dbt docs/lineage: data/dbt/target/static_index.html (open in a browser, works offline)"
	@echo "  quality gates:    data/gx/gx/uncommitted/data_docs/local_site/index.html (GX Data Docs)"
	@echo "                    SQL: ops.stream_gates, ops.quality_results, raw.ohlcv_quarantine, ops.alerts"
	@echo "  models:           make mlflow → http://127.0.0.1:5000   ·   $(BIN)/aaiti model list"
	@echo "                    SQL: SELECT * FROM ml.predictions ORDER BY ts DESC LIMIT 10;"
	@echo "  strategy:         $(BIN)/aaiti evaluate [--json]  (out of sample, net of costs, beside buy-and-hold)"
	@echo "                    SQL: strategy.state, strategy.evaluations, strategy.curves"
	@echo "  paper trading:    SQL: trading.orders, trading.fills, trading.equity, risk.metrics, risk.breaches"
	@echo "                    $(BIN)/aaiti risk   ·   $(BIN)/aaiti halt / resume"
	@echo "  streams:          $(BIN)/aaiti status"
	@echo "  next replay bar:  $(BIN)/aaiti ingest && $(BIN)/aaiti validate && $(BIN)/aaiti transform && $(BIN)/aaiti predict && $(BIN)/aaiti trade"

# Two workers (the machine's two cores; CI's too), a module per worker at a time: the
# slowest modules start first (tests/conftest.py), the servers they start are their own.
test: setup browser
	$(BIN)/python -m pytest -q -n 2 --dist loadfile --no-loadscope-reorder

# The pure cores and the adapters that need no server: the loop while editing.
FAST_TESTS := tests/test_candles.py tests/test_config.py tests/test_health.py \
	tests/test_indicators.py tests/test_layering.py tests/test_metrics.py tests/test_ml_core.py \
	tests/test_private_apis.py tests/test_quality_rules.py tests/test_reconcile.py \
	tests/test_risk_gate.py tests/test_risk_metrics.py tests/test_strategy.py \
	tests/test_synthetic.py tests/test_trading_engine.py tests/test_verdict.py \
	tests/test_ledger.py tests/test_results.py tests/test_store_and_replay.py \
	tests/test_import.py
test-fast: setup
	$(BIN)/python -m pytest -q -n 2 $(FAST_TESTS)

# The browser test drives Debian's Chromium (shared/STACK.md); installed here when missing.
CHROMIUM ?= /usr/bin/chromium
browser:
	@if [ ! -x "$(CHROMIUM)" ]; then \
		echo "installing Debian's chromium for the browser test"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; \
	fi
	@test -x "$(CHROMIUM)" || { echo "chromium could not be installed: the browser test needs $(CHROMIUM)"; exit 1; }

MLFLOW_PORT ?= 5000
mlflow: setup
	@mkdir -p $(AAITI_DATA_DIR)/mlflow
	$(BIN)/mlflow ui --backend-store-uri sqlite:///$(AAITI_DATA_DIR)/mlflow/mlflow.db \
		--default-artifact-root $(AAITI_DATA_DIR)/mlflow/artifacts --host 127.0.0.1 --port $(MLFLOW_PORT)

up: setup
	@mkdir -p $(PREFECT_HOME)
	$(BIN)/aaiti stack up

status: setup
	@$(BIN)/aaiti stack status

down: setup
	$(BIN)/aaiti stack down

DASHBOARD_PORT ?= 8501
dashboard: setup
	$(BIN)/streamlit run dashboards/app.py --server.headless true --server.address 127.0.0.1 \
		--server.port $(DASHBOARD_PORT) --browser.gatherUsageStats false --client.toolbarMode minimal

# The README's and docs' result figures from a fresh demo's training run, in a temporary data
# folder (docs/results.json and the marked blocks); a test fails when the committed ones
# differ from what the code computes.
results: setup
	@tmp=$$(mktemp -d); export AAITI_DATA_DIR=$$tmp/data AAITI_SAMPLE_DIR=$(CURDIR)/data/sample \
		PREFECT_HOME=$$tmp/prefect; mkdir -p $$PREFECT_HOME; \
	$(BIN)/python -m flows.demo > $$tmp/demo.log 2>&1 && $(BIN)/aaiti results; rc=$$?; \
	[ $$rc = 0 ] || tail -20 $$tmp/demo.log; rm -rf $$tmp; exit $$rc

screenshot: setup browser  # the README's picture of the dashboard, after `make demo`
	$(BIN)/python -m dashboards.screenshot

bench: setup
	@$(BIN)/uv pip install -q --python $(BIN)/python -r requirements-bench.lock 2>/dev/null || \
		$(BIN)/python -m pip install -q -r requirements-bench.lock
	$(BIN)/python -m benchmarks.run

# The served stack for SOAK_BARS bars (a bar every 10 s) under every fault kind; prints the
# figures (JSON, also in the run's folder) and fails when anything is lost, doubled or left
# broken. About an hour for 200 bars.
SOAK_BARS ?= 200
soak: setup
	$(BIN)/python -m tests.soak --bars $(SOAK_BARS)

# mypy lives in its own venv: mypy ≥ 1.1x needs pathspec ≥ 1.0, dbt-core pins it < 0.13.
# It reads the project's packages from .venv (--python-executable).
TYPES_VENV := .venv-types
# Strict: every stage core split from its shell (ingest, gates, features, training,
# monitoring, risk, backtest) and the settings' sections they take.
STRICT_TYPES := aaiti/config.py aaiti/cluster.py aaiti/quality aaiti/universe.py aaiti/supervisor.py \
	aaiti/market/ingest.py aaiti/market/candles.py aaiti/features aaiti/risk aaiti/ops \
	aaiti/ml/train.py aaiti/ml/evaluate.py aaiti/ml/features.py aaiti/ml/splits.py \
	aaiti/ml/labels.py aaiti/monitoring/monitor.py aaiti/monitoring/alerts.py \
	aaiti/monitoring/drift.py aaiti/trading/stale.py aaiti/trading/reconcile.py aaiti/trading/accounts.py \
	aaiti/trading/backtest.py aaiti/execution/costs.py aaiti/trading/cycle.py aaiti/trading/book.py \
	aaiti/trading/sequencing.py aaiti/trading/venue.py aaiti/trading/report.py aaiti/trading/halt.py aaiti/books.py
CHECKED_TYPES := aaiti/strategy aaiti/execution
$(TYPES_VENV)/.installed: requirements-types.lock
	$(PYTHON) -m venv $(TYPES_VENV)
	$(TYPES_VENV)/bin/python -m pip install -q -r requirements-types.lock
	@touch $@

types: setup $(TYPES_VENV)/.installed
	$(TYPES_VENV)/bin/mypy --python-executable $(BIN)/python --strict $(STRICT_TYPES)
	$(TYPES_VENV)/bin/mypy --python-executable $(BIN)/python $(CHECKED_TYPES)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache

format: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) data/*.duckdb data/*.duckdb.* data/prefect data/mlflow .pytest_cache
