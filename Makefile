# Two commands do all set-up on a fresh machine (Python 3.11 + pip):
#   make demo   regenerate the labs, autograde the sample submissions, print grades
#   make test   run the test suite
# Both create .venv/ when missing and reinstall only when requirements.txt or pyproject.toml change.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test
demo: $(STAMP)
	$(PY) -m autograder demo

test: $(STAMP)
	$(PY) -m pytest

$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps --editable .
	touch $@
