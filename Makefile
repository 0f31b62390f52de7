# The front door: every target installs what it needs into .venv first.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
# The CPU wheel of torch lies on local disk; asking for it first keeps the
# install fast and stops pip from resolving a multi-GB CUDA build.
TORCH_PIN ?= torch==2.13.0

.PHONY: install tools run test proto proto-check lint fuzz load clean

$(INSTALLED): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "$(TORCH_PIN)"
	$(PY) -m pip install -q -e '.[dev]'
	touch $(INSTALLED)

install: $(INSTALLED)

## Start the service with a local worker, train the reference job to SUCCEEDED.
run: install
	$(PY) examples/quickstart.py

## Tools the deploy tests use: promtool (Debian's prometheus), kubectl.
tools: install
	VENV=$(VENV) deploy/install-tools.sh

## Run the test suite.
test: install tools
	$(PY) -m pytest -q

## Regenerate the Python code under mtl/v1 from proto/.
proto: install
	$(PY) -m mtl_service.protogen

## Fail when the checked-in generated code differs from what proto/ gives.
proto-check: install
	$(PY) -m mtl_service.protogen --check

## Long property-based run on the spec loader and validator.
fuzz: install
	MTL_HYPOTHESIS_PROFILE=fuzz $(PY) -m pytest -q -p no:cacheprovider \
		tests/unit/test_fuzz_spec.py

## Bounded load test on loopback: mixed RPCs for 30 s while two jobs train.
load: install
	$(PY) -m bench.load

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

clean:
	rm -rf $(VENV) mtl-data .pytest_cache

## Benchmarks (not part of the tests): one table, bench/results/latest.json.
## QUICK=1 for a smoke run of about a minute; bench/gpu.sh for the CUDA suite.
.PHONY: bench
bench: install
	$(PY) -m bench $(if $(QUICK),--quick)
