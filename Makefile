# One short command per job; .ci/run calls exactly these.
#   make chat       set up (first time) and run the reference support desk on the local model
#   make test       set up (first time) and run the tests
#   make lint       ruff check + ruff format --check
#   make typecheck  pyright (strict on src/)
#   make check      all three, as CI runs them

VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.keel-installed

.PHONY: chat test lint typecheck check bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

chat: $(STAMP)
	$(VENV)/bin/keel chat --app keel.examples.support_desk:app

# pytest exits 5 when it collects no tests; that is a broken suite, so say so loudly.
test: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests" >&2; fi; exit $$rc

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(STAMP)
	$(VENV)/bin/pyright

check: lint typecheck test

bench: $(STAMP)
	$(PY) benchmarks/loop_overhead.py
	$(PY) benchmarks/durable_runs.py
	$(PY) benchmarks/import_time.py
	$(PY) benchmarks/model_gateway.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
