# keyark: two set-up commands.
#   make demo  - create .venv, install keyark, back up / list / check / restore sample key material
#   make test  - install test dependencies and servers, then lint, type-check and run every test
# Every pip install is pinned by constraints.txt (regenerate it with 'make constraints'),
# so a new release of ruff, mypy, pytest or a library cannot change a run overnight.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
PIN    := -c constraints.txt

.PHONY: demo test venv venv-tool test-deps test-servers lint typecheck pytest bench bench-startup constraints clean

# python3 -m venv needs Debian's python3-venv (ensurepip); install it as root, else say how.
venv-tool:
	@if ! $(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' >/dev/null 2>&1; then \
	  echo "keyark needs Python 3.11 or newer as $(PYTHON) (Debian 12: sudo apt-get install python3)" >&2; \
	  exit 1; \
	fi
	@if ! $(PYTHON) -c 'import ensurepip, venv' >/dev/null 2>&1; then \
	  pkg="python$$($(PYTHON) -c 'import sys; print("%d.%d" % sys.version_info[:2])')-venv"; \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing $$pkg (python3 -m venv needs it)"; \
	    apt-get update -q && apt-get install -y -q --no-install-recommends "$$pkg"; \
	  else \
	    echo "python3 -m venv needs $$pkg; install it with:  sudo apt-get install $$pkg" >&2; \
	    exit 1; \
	  fi; \
	fi

$(VENV)/.keyark-installed: pyproject.toml constraints.txt
	test -x $(PY) || $(MAKE) --no-print-directory venv-tool
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip $(PIN)
	$(PIP) install -q -e . $(PIN)
	touch $@

venv: $(VENV)/.keyark-installed

demo: venv
	$(PY) scripts/demo.py

$(VENV)/.keyark-test-installed: pyproject.toml constraints.txt $(VENV)/.keyark-installed
	$(PIP) install -q -e '.[all,test]' $(PIN)
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

bench-startup: venv
	$(PY) benchmarks/startup.py

# Re-pin after a deliberate upgrade: everything installed in .venv except keyark itself.
constraints: test-deps
	{ sed -n '1,2p' constraints.txt; $(PIP) freeze --all | grep -v '^#' | grep -v '^-e ' \
	  | grep -iv '^keyark' | grep -v '^setuptools==' | LC_ALL=C sort -f; } > constraints.txt.new
	mv constraints.txt.new constraints.txt

clean:
	rm -rf $(VENV) demo-work .pytest_cache .mypy_cache .ruff_cache
