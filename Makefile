# kairan — make demo: bot on embedded defaults; make test: every extra, the linters, the type check, the tests.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DATA_DIR ?= data
# make demo serves the console at http://127.0.0.1:$(PORT)/console (extractive answers unless an LLM is set).
PORT ?= 8080
# Laws for the demo: a directory of e-Gov files (KAIRAN_CORPUS) or, without it, fetched from e-Gov.
DEMO_LAWS ?= 322AC0000000067 322CO0000000016 325AC0000000261 405AC0000000088 415AC0000000057 336AC0000000223

.PHONY: venv venv-dev demo test conformance lint bench clean

$(BIN)/kairan: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e .
	@touch $@

venv: $(BIN)/kairan

venv-dev: venv
	$(BIN)/pip install --quiet -e '.[dev,embeddings]'

demo: venv
ifdef KAIRAN_CORPUS
	$(BIN)/kairan ingest --data-dir $(DATA_DIR) $(KAIRAN_CORPUS)
else
	$(BIN)/kairan ingest --data-dir $(DATA_DIR) egov $(DEMO_LAWS)
endif
	$(BIN)/kairan serve --data-dir $(DATA_DIR) --host 127.0.0.1 --port $(PORT)

test: venv-dev
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/pytest

# kairan serve (Teams' development mode) against the Microsoft 365 Agents Playground, installed from npm
# (pinned in conformance/teams/package-lock.json) into ~/.cache/kairan/conformance; needs Node.js.
conformance: venv-dev
	$(BIN)/python -m conformance.teams

lint: venv-dev
	$(BIN)/ruff check .
	$(BIN)/mypy

bench: venv-dev
	$(BIN)/python benchmarks/knowledge_base.py

clean:
	rm -rf $(VENV) $(DATA_DIR) .pytest_cache tests/conformance/logo/node_modules
