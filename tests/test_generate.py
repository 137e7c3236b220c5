"""Generated files: labs/ and the sample submissions match solutions/, carry no outputs."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from autograder.cli import main
from autograder.generate import GENERATED_DIRS, LABS, stale
from autograder.course import SOLUTIONS, lab_ids


def _notebooks(*dirs: Path) -> list[Path]:
    return sorted(p for d in dirs for p in d.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)


@pytest.mark.slow
def test_generated_files_are_up_to_date(capsys):
    """CI fails when someone edited labs/ by hand or forgot `python -m autograder assign`."""
    assert main(["assign", "--check"]) == 0, capsys.readouterr().out


@pytest.mark.parametrize("path", _notebooks(SOLUTIONS, *GENERATED_DIRS), ids=str)
def test_notebooks_are_stored_without_outputs(path):
    for cell in json.loads(path.read_text())["cells"]:
        assert cell.get("outputs", []) == [] and cell.get("execution_count") is None, cell["id"]


@pytest.mark.parametrize("lab", lab_ids())
def test_student_notebook_says_it_is_generated(lab):
    first = json.loads((LABS / lab / f"{lab}.ipynb").read_text())["cells"][0]
    assert f"generated from `solutions/{lab}/{lab}.ipynb`" in "".join(first["source"])


@pytest.mark.parametrize("lab", lab_ids())
def test_student_notebook_has_no_solutions_or_hidden_tests(lab):
    text = (LABS / lab / f"{lab}.ipynb").read_text()
    assert "BEGIN SOLUTION" not in text and "HIDDEN TESTS" not in text
    assert "NotImplementedError('Lab 0, task" in text or lab != "lab0"


def test_check_reports_edited_and_unexpected_files():
    """`assign --check` can fail: a differing file and a file generation would not write are stale."""
    notebook = LABS / "lab0" / "lab0.ipynb"
    unexpected = stale({notebook: notebook.read_bytes()}, ["lab0"])  # the lab's samples now are
    assert unexpected and all("lab0" in p.parts for p in unexpected)  # other labs' files are not
    everything = {p: p.read_bytes() for d in GENERATED_DIRS for p in d.rglob("*.ipynb")}
    assert stale(everything, lab_ids()) == []
    assert stale({**everything, notebook: b"edited by hand"}, lab_ids()) == [notebook]
