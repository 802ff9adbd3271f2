# The two commands of the README: `make run` and `make test`. CI (.ci/run) calls `make test`.
UV ?= uv
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test lint typecheck pytest sync bench clean licences

$(BIN)/frontdesk: pyproject.toml uv.lock
	$(UV) sync --locked
	@touch $@

sync: $(BIN)/frontdesk

run: sync
	./scripts/run

lint: sync
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: sync
	$(BIN)/mypy

pytest: sync
	$(BIN)/pytest

test: lint typecheck pytest

# THIRD-PARTY-LICENSES.md from uv.lock, the venv's package metadata and the vendored assets' headers;
# rerun after changing dependencies (tests/unit/test_licences.py fails until you do).
licences: sync
	$(BIN)/python scripts/licences.py

clean:
	rm -rf .run .pytest_cache .mypy_cache .ruff_cache

# Benchmarks (not part of `make test`; about 10 minutes on 2 cores): each compares against a baseline
# in the same run and writes bench/results/<name>.json, then summary.py writes bench/results/summary.md.
# Needs wrk (apt-get install -y wrk), taskset and redis-server. `make bench BENCHES=forms` runs one;
# BENCH_SECONDS=2 shortens every wrk run (for trying changes, not for figures).
BENCHES ?= content forms worker mixed asgi_servers
bench: sync
	@command -v wrk >/dev/null || { echo "wrk is needed: apt-get install -y wrk"; exit 1; }
	@for b in $(BENCHES); do echo "== bench/$$b.py"; $(BIN)/python -m bench.$$b || exit 1; done
	$(BIN)/python -m bench.summary
