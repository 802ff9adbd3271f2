# The two commands of the README: `make run` and `make test`. CI (.ci/run) calls `make test`.
UV ?= uv
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test lint typecheck pytest sync bench clean

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

# Benchmarks (not part of `make test`): need wrk (apt-get install -y wrk) and taskset.
bench: sync
	$(BIN)/python bench/content.py

clean:
	rm -rf .run .pytest_cache .mypy_cache .ruff_cache

# Benchmarks (not part of `make test`): each compares against a baseline in the same run.
BENCHES := $(wildcard bench/content.py bench/forms.py bench/worker.py) bench/mixed.py bench/asgi_servers.py
bench: sync
	@command -v wrk >/dev/null || { echo "wrk is needed: apt-get install wrk"; exit 1; }
	for b in $(BENCHES); do (cd bench && ../$(BIN)/python $$(basename $$b)) || exit 1; done
	$(BIN)/python bench/summary.py
