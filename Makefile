# The two commands: `make demo` runs the whole journey, `make test` the test suite.
# Both create .venv on first use with nothing but Python 3.11.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
# torch is installed first, pinned to the CPU wheel these machines carry,
# so that the project's wider range installs nothing more.
TORCH  := torch==2.13.0
FIND_LINKS := $(if $(wildcard /opt/wheels),--find-links /opt/wheels,)
PIP    := $(BIN)/python -m pip --disable-pip-version-check
DEMO_ARGS ?=

.PHONY: demo test lint venv dev-venv browser java clean clean-venv

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.runtime: pyproject.toml | $(BIN)/python
	$(PIP) install $(FIND_LINKS) $(TORCH)
	$(PIP) install $(FIND_LINKS) -e .
	touch $@

$(VENV)/.dev: $(VENV)/.runtime
	$(PIP) install $(FIND_LINKS) -e '.[dev,spark,serve]'
	touch $@

venv: $(VENV)/.runtime
dev-venv: $(VENV)/.dev

demo: $(VENV)/.runtime
	$(BIN)/looklift demo $(DEMO_ARGS)

# The report's browser test drives Debian's chromium, headless: install it when missing
# (CI runs as root; elsewhere the test is skipped, saying why).
browser:
	@if ! command -v chromium >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	  else \
	    echo "note: chromium is missing (apt-get install chromium): the browser test will be skipped"; \
	  fi; \
	fi

# The Spark tests need a Java runtime: install Debian's when missing (CI runs as root;
# elsewhere they are skipped, saying why).
java:
	@if ! command -v java >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless; \
	  else \
	    echo "note: java is missing (apt-get install openjdk-17-jre-headless): the Spark tests will be skipped"; \
	  fi; \
	fi

test: $(VENV)/.dev browser java
	$(BIN)/python -m pytest

lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean:
	rm -rf demo-output artifacts .pytest_cache

clean-venv:
	rm -rf $(VENV)
