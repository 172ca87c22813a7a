# `make demo` renders the main video; `make test` runs the test suite.
# Both set themselves up on first use: Manim's system libraries (Debian, as root),
# a virtual environment in .venv, and this package with its test extras.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint gallery bench setup clean

demo: $(STAMP)
	$(BIN)/python -m engine render featuremaps

test: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check engine scenes tests bench
	$(BIN)/ruff format --check engine scenes tests bench

gallery: $(STAMP)
	$(BIN)/python -m engine gallery

bench: $(STAMP)
	$(BIN)/python -m bench

setup: $(STAMP)

# Manim builds ManimPango and pycairo from source, so it needs Cairo and Pango headers.
# uv resolves torch and torchvision as a matched pair from PyPI and reuses its cache on re-runs.
$(STAMP): pyproject.toml setup.py
	@if ! pkg-config --exists cairo pangocairo 2>/dev/null; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			echo "Installing Cairo and Pango headers for Manim (apt-get)"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
				libcairo2-dev libpango1.0-dev pkg-config >/dev/null; \
		else \
			echo "Manim needs the Cairo and Pango headers. On Debian/Ubuntu run:"; \
			echo "  sudo apt-get install libcairo2-dev libpango1.0-dev pkg-config"; \
			exit 1; \
		fi; \
	fi
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@test -x $(BIN)/uv || $(BIN)/python -m pip install -q uv
	$(BIN)/uv pip install --python $(BIN)/python -q -e ".[test]"
	@touch $(STAMP)

clean:
	rm -rf $(VENV) media
