# Two commands do all set-up on a fresh machine (Python 3.11 + pip):
#   make demo   regenerate the labs, autograde the sample submissions, print grades, and build
#               the student handout (build/handout/)
#   make test   lint (ruff) and run the test suite
# Both create .venv/ when missing and reinstall only when requirements.txt or pyproject.toml change;
# both install bubblewrap (the sandbox of graded kernels) with apt-get where it is missing.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test lint sandbox
demo: $(STAMP) sandbox
	$(PY) -m autograder demo

test: $(STAMP) sandbox lint
	$(PY) -m pytest

# ruff (configured in pyproject.toml): lint everything, format the Python files
lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

# Student kernels are graded inside bubblewrap (autograder/sandbox.py): installed where missing on
# Debian as root (CI); elsewhere it says how, and autograde refuses to grade until it is there.
sandbox:
	@command -v bwrap >/dev/null || (apt-get update -qq && apt-get install -y -qq bubblewrap) \
		|| echo "bubblewrap is missing: install it (Debian/Ubuntu: sudo apt-get install bubblewrap)"

$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps --editable .
	touch $@
