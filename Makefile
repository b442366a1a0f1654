# The two commands of the README: `make run` and `make test`.
PY := .venv/bin/python

.PHONY: run test setup setup-test lint bench clean

run: setup
	$(PY) -m web.cli serve

test: setup-test
	$(PY) -m ruff check .
	$(PY) -m mypy
	node_modules/.bin/tsc -p .
	$(PY) -m pytest

setup:
	scripts/setup.sh run

setup-test:
	scripts/setup.sh test

lint: setup-test
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy

bench: setup-test
	$(PY) -m pytest tests/bench -p no:cacheprovider -o addopts="" --timeout=1800 -s

clean:
	rm -rf .venv node_modules data .pytest_cache .mypy_cache .ruff_cache
