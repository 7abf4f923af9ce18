# The two commands a newcomer types: `make quickstart` and `make test`.
# Each sets up .venv on first use (the CPU torch wheel first where torch is missing,
# then momnas with its test extras).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: quickstart test system-deps

$(VENV)/.installed: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e ".[test]"
	touch $@

quickstart: $(VENV)/.installed
	$(BIN)/momnas search --preset quickstart
	@echo "momnas lives in $(BIN): run '. $(BIN)/activate' to type it as plain 'momnas' (the next: lines above work as printed)"

system-deps:
	bash .ci/system-deps

test: $(VENV)/.installed system-deps
	$(BIN)/python -m pytest
