# keyark: two set-up commands.
#   make demo  - create .venv, install keyark, back up / list / check / restore sample key material
#   make test  - install test dependencies and servers, then lint, type-check and run every test
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip

.PHONY: demo test venv test-deps test-servers lint typecheck pytest bench clean

$(VENV)/.keyark-installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -e .
	touch $@

venv: $(VENV)/.keyark-installed

demo: venv
	$(PY) scripts/demo.py

$(VENV)/.keyark-test-installed: pyproject.toml $(VENV)/.keyark-installed
	$(PIP) install -q -e '.[all,test]'
	touch $@

test-deps: $(VENV)/.keyark-test-installed

test-servers:
	bash scripts/install-test-servers.sh

lint: test-deps
	$(VENV)/bin/ruff check src tests benchmarks scripts
	$(VENV)/bin/ruff format --check src tests benchmarks scripts
	$(PY) -m pytest -q tests/unit/test_face_imports.py

typecheck: test-deps
	$(VENV)/bin/mypy --strict src tests

pytest: test-deps test-servers
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(PY) -m pytest -q tests

test: lint typecheck pytest

bench: venv
	$(PY) benchmarks/compare.py

clean:
	rm -rf $(VENV) demo-work .pytest_cache .mypy_cache .ruff_cache
