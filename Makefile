# The two commands of the README: `make run` and `make test`. CI (.ci/run) calls `make test`.
# On a bare machine they need only make and python3 with its venv module (Debian: python3-venv):
# without a uv on PATH, a pinned, hash-checked uv is installed into .tools/ first.
VENV := .venv
BIN := $(VENV)/bin
TOOLS := .tools
# uv: the one named by UV, else the one on PATH, else the pinned copy in .tools/.
UV ?= $(or $(shell command -v uv 2>/dev/null),$(TOOLS)/bin/uv)
# Never a Python downloaded by uv: the system's python3 (>= 3.11) runs the project.
export UV_PYTHON_DOWNLOADS := never
# Arguments for pytest, e.g. `make pytest PYTEST_ARGS="-x tests/unit"`.
PYTEST_ARGS ?=

.PHONY: run test lint typecheck pytest sync bench clean licences

# python3 -m venv needs Debian's python3-venv; --require-hashes refuses any file not in the list.
$(TOOLS)/bin/uv: scripts/uv-requirements.txt
	@command -v python3 >/dev/null || { echo "python3 is needed (Debian: apt-get install python3 python3-venv)" >&2; exit 1; }
	@python3 -m venv --clear $(TOOLS) || { echo "python3 -m venv failed (Debian: apt-get install python3-venv)" >&2; exit 1; }
	$(TOOLS)/bin/python -m pip install --quiet --disable-pip-version-check --no-deps \
		--only-binary :all: --require-hashes -r scripts/uv-requirements.txt
	@touch $@

$(BIN)/frontdesk: pyproject.toml uv.lock | $(filter $(TOOLS)/bin/uv,$(UV))
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
	$(BIN)/pytest $(PYTEST_ARGS)

test: lint typecheck pytest

# THIRD-PARTY-LICENSES.md from uv.lock, the venv's package metadata and the vendored assets' headers;
# rerun after changing dependencies (tests/unit/test_licences.py fails until you do).
licences: sync
	$(BIN)/python scripts/licences.py

clean:
	rm -rf .run .pytest_cache .mypy_cache .ruff_cache .tools

# Benchmarks (not part of `make test`; about 10 minutes on 2 cores): each compares against a baseline
# in the same run and writes bench/results/<name>.json, then summary.py writes bench/results/summary.md.
# Needs wrk (apt-get install -y wrk), taskset and redis-server. `make bench BENCHES=forms` runs one;
# BENCH_SECONDS=2 shortens every wrk run (for trying changes, not for figures).
BENCHES ?= content forms worker mixed asgi_servers inbox
bench: sync
	@command -v wrk >/dev/null || { echo "wrk is needed: apt-get install -y wrk"; exit 1; }
	@for b in $(BENCHES); do echo "== bench/$$b.py"; $(BIN)/python -m bench.$$b || exit 1; done
	$(BIN)/python -m bench.summary
