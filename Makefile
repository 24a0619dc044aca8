# smartcustoms: two set-up commands, `make run` and `make test`.
# The venv's interpreter: the distribution's CPython 3.11+ where it has venv (Debian, Ubuntu and Fedora build
# it with PGO and LTO; the CBEC hot path takes ~16 % less CPU on it than on a plain source build such as
# pyenv's, see docs/benchmarks.md), else python3 on PATH. `make install PYTHON=...` picks another one.
PYTHON ?= $(or $(shell for p in /usr/bin/python3 python3; do $$p -c 'import ensurepip, sys, venv; \
	sys.exit(sys.version_info < (3, 11))' >/dev/null 2>&1 && { echo $$p; break; }; done),python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export SMARTCUSTOMS_DATA_DIR ?= var

.PHONY: run test install lint bench browser clean train-images

# the sources setup.py compiles (its KERNELS (.pyx) and COMPILED (.py) tuples, read from it): an edit to one
# rebuilds its extension
setup_list = $(subst .,/,$(shell sed -n '/^$(1) = (/,/^)/s/^ *"\(smartcustoms\.[a-z_.]*\)",$$/\1/p' setup.py))
COMPILED := $(patsubst %,src/%.pyx,$(call setup_list,KERNELS)) $(patsubst %,src/%.py,$(call setup_list,COMPILED)) \
	$(wildcard src/smartcustoms/cbec/ceb/*.pxd)

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

## test: install, check style, the import contracts (pyproject's [tool.importlinter]) and types, run the whole suite
test: install browser
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy src
	$(VENV)/bin/pytest -q -p no:cacheprovider

lint: install
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy src

bench: install
	$(PY) bench/lodge.py

## train-images: the training extra (PyTorch, CPU build), then train the scan-image CNNs on synthetic scans and
## ship them as src/smartcustoms/inspection/images/model.onnx with docs/images-training.md (seeded): a network told
## only the declared ratio band (30 epochs), then one told the declaration vector (4,000 scans, 30 epochs, one thread
## as the shipped file's run), shipped as an ensemble
train-images: install
	$(PY) -m pip install --quiet -e '.[dev,train-images]'
	mkdir -p var
	$(PY) bench/train_images.py --band-only --epochs 30 --out var/images-band-only.onnx --report -
	$(PY) bench/train_images.py --train 4000 --epochs 30 --valid-every 10 --threads 1 --also-from var/images-band-only.onnx

clean:
	rm -rf $(VENV) var test-output
