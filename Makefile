# Two commands: `make demo` runs the service end to end on the embedded default,
# `make test` runs the static checks (`make lint`) and the whole test suite. Both create .venv and
# install on first use.
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
SYSDEPS := chromium chromium-driver poppler-utils r-cran-matchit r-cran-sandwich prometheus fonts-liberation

.PHONY: demo test test-fast bench install sysdeps fonts clean lint

$(BIN)/python:
	$(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed

# System packages used by the tests (headless browser, pdftoppm, R MatchIt, promtool) and the
# report's typeface (Liberation Sans).
# Installed only when missing and when apt-get is usable; tests that need one say so if absent.
sysdeps:
	@missing=""; \
	command -v chromium >/dev/null || missing="$$missing chromium chromium-driver"; \
	command -v pdftoppm >/dev/null || missing="$$missing poppler-utils"; \
	(command -v Rscript >/dev/null && Rscript -e 'library(MatchIt); library(sandwich)' >/dev/null 2>&1) || missing="$$missing r-cran-matchit r-cran-sandwich"; \
	command -v promtool >/dev/null || missing="$$missing prometheus"; \
	[ -e /usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf ] || missing="$$missing fonts-liberation"; \
	if [ -n "$$missing" ]; then \
	  if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	    echo "installing system packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	  else echo "cannot install$$missing (no apt-get or not root): dependent tests will report why they skip"; fi; \
	fi

demo: install fonts
	$(BIN)/jdl demo

# The report's typeface only (the demo needs no browser or R).
fonts:
	@[ -e /usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf ] || { \
	  if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends fonts-liberation >/dev/null; \
	  else echo "fonts-liberation not installed: the report falls back to DejaVu Sans"; fi; }

test: install lint sysdeps
	$(BIN)/python -m pytest -n 2 -m "not slow" tests

test-fast: install
	$(BIN)/python -m pytest -x -m "not slow and not e2e and not browser" tests

bench: install
	$(BIN)/python bench/run_all.py

# The static checks, run first by `make test` (and so by .ci/run): ruff (unused imports, names and
# arguments, blind excepts, a complexity ceiling; every `noqa` must still silence something), mypy
# on shared/ and services/ (every `type: ignore` must still be needed), and the import-linter
# contracts. Configured in pyproject.toml ([tool.ruff], [tool.mypy], [tool.importlinter]).
lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports

clean:
	rm -rf var out .pytest_cache
