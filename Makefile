# Quick start: `make demo` (install, then generate images with the bundled model), `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PROMPTS := "a large red circle" "a small blue square" "a large purple triangle" \
	"a small yellow circle to the left of a large cyan triangle" "a large green square above a small red circle"

.PHONY: demo test test-fast lint install clean

$(BIN)/llmimg: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -e ".[test]"
	touch $@

install: $(BIN)/llmimg

demo: install
	$(BIN)/llmimg generate $(PROMPTS) --n 4 --seed 0 --out outputs

test: install
	$(BIN)/python -m pytest -q

test-fast: install  # the one-change loop: everything but the tests marked slow
	$(BIN)/python -m pytest -q -m "not slow"

lint: install
	$(BIN)/ruff check src tests benchmarks

clean:
	rm -rf $(VENV) outputs .pytest_cache
