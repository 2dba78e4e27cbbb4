# Two targets do everything on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test install lint bench clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

install: $(BIN)/.installed

demo: install
	$(BIN)/orchestrator demo

test: install
	$(BIN)/pytest -n 2

lint: install
	$(BIN)/ruff check orchestrator channels tests bench

bench: install
	$(BIN)/python bench/validate_speed.py

clean:
	rm -rf $(VENV) orchestrator.db
