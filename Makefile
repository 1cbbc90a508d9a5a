# Two commands set everything up on a fresh machine: `make run` and `make test`.
# Both create .venv when missing: torch's CPU build first, then the exact versions in requirements.lock.

VENV    ?= .venv
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.installed
PYTEST_ARGS ?=

# Integration tests use these servers when they answer (CI exports its own and fails if they do not).
export POSTGRES_TEST_URL ?= postgresql+psycopg2://postgres@127.0.0.1:5432/test
export REDIS_TEST_URL ?= redis://127.0.0.1:6379/15

.PHONY: run test bench lint lock clean peers

$(STAMP): pyproject.toml requirements.lock
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -r requirements.lock
	$(PY) -m pip install -q --no-deps -e .
	touch $(STAMP)

run: $(STAMP)  ## materialize the market assets, then start Dagster (UI + daemon) and the API
	$(VENV)/bin/sextant up

# The conformance tests' peer nodes (tests/conformance), exact versions in tests/peers/package-lock.json.
PEERS   := tests/peers
peers: $(PEERS)/node_modules/.installed  ## Hardhat Network and Ganache from npm, for tests/conformance

$(PEERS)/node_modules/.installed: $(PEERS)/package.json $(PEERS)/package-lock.json
	@if command -v npm >/dev/null 2>&1; then npm ci --prefix $(PEERS) --no-audit --no-fund && touch $@; \
	else echo "npm not found: tests/conformance will skip (fail under CI); install Node.js >= 20, then make peers"; fi

test: $(STAMP) peers  ## the whole test suite
	$(VENV)/bin/pytest $(PYTEST_ARGS)

bench: $(STAMP)  ## every benchmark; each prints a ratio line against its baseline
	@for b in bench/*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

lint: $(STAMP)
	$(VENV)/bin/ruff check .

lock: $(STAMP)  ## rewrite requirements.lock from the current environment
	{ sed -n '1,3p' requirements.lock; $(PY) -m pip freeze --exclude-editable; } > requirements.lock.new
	mv requirements.lock.new requirements.lock

clean:
	rm -rf $(VENV) .sextant .pytest_cache
