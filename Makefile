# smartcustoms: two set-up commands, `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export SMARTCUSTOMS_DATA_DIR ?= var

.PHONY: run test install lint bench browser clean

# the sources setup.py compiles (its COMPILED tuple, read from it): an edit to one rebuilds its extension
COMPILED := src/smartcustoms/cbec/_cebscan.pyx $(patsubst %,src/%.py,$(subst .,/,$(shell \
	sed -n 's/^ *"\(smartcustoms\.[a-z_.]*\)",$$/\1/p' setup.py)))

$(STAMP): pyproject.toml setup.py $(COMPILED)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## run: install, migrate the embedded SQLite database, load demo data, serve on http://127.0.0.1:8000
run: install
	$(VENV)/bin/smartcustoms serve --demo

## browser: Debian's chromium for the browser tests (installed when missing)
browser:
	@if ! command -v chromium >/dev/null 2>&1 || ! fc-list 2>/dev/null | grep -qi 'wqy\|noto sans cjk'; then \
	  (apt-get update -qq && apt-get install -y -qq chromium fonts-wqy-microhei >/dev/null) \
	  || echo "chromium could not be installed: browser tests will skip"; fi

## test: install and run the whole suite
test: install browser
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/pytest -q -p no:cacheprovider

lint: install
	$(VENV)/bin/ruff check src tests bench

bench: install
	$(PY) bench/lodge.py

clean:
	rm -rf $(VENV) var test-output
