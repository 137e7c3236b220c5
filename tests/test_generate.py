"""Generated files: labs/ and the sample submissions match solutions/, carry no outputs."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

from autograder.cli import main
from autograder.course import SOLUTIONS, lab_ids
from autograder.generate import GENERATED_DIRS, LABS, EditedFiles, _bytes, stale, unedited, write


def _notebooks(*dirs: Path) -> list[Path]:
    return sorted(
        p for d in dirs for p in d.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts
    )


@pytest.mark.slow
def test_generated_files_are_up_to_date(capsys):
    """CI fails when someone edited labs/ by hand or forgot `python -m autograder assign`."""
    assert main(["assign", "--check"]) == 0, capsys.readouterr().out


@pytest.mark.parametrize("path", _notebooks(SOLUTIONS, *GENERATED_DIRS), ids=str)
def test_notebooks_are_stored_without_outputs(path):
    for cell in json.loads(path.read_text())["cells"]:
        assert cell.get("outputs", []) == [] and cell.get("execution_count") is None, cell["id"]


@pytest.mark.parametrize("lab", lab_ids())
def test_student_notebook_is_marked_generated_without_words_for_instructors(lab):
    path = LABS / lab / f"{lab}.ipynb"
    first = json.loads(path.read_text())["cells"][0]
    assert "validate" in "".join(first["source"]) and "maintainers" not in path.read_text()
    assert unedited(path)


@pytest.mark.parametrize("lab", lab_ids())
def test_student_notebook_has_no_solutions_or_hidden_tests(lab):
    text = (LABS / lab / f"{lab}.ipynb").read_text()
    assert "BEGIN SOLUTION" not in text and "HIDDEN TESTS" not in text
    assert "NotImplementedError('Lab 0, task" in text or lab != "lab0"


def test_check_reports_edited_and_unexpected_files():
    """`assign --check` can fail: a differing file and one generation no longer writes are stale."""
    notebook = LABS / "lab0" / "lab0.ipynb"
    unexpected = stale({notebook: notebook.read_bytes()}, ["lab0"])  # the lab's samples now are
    assert unexpected and all("lab0" in p.parts for p in unexpected)  # other labs' files are not
    everything = {p: p.read_bytes() for d in GENERATED_DIRS for p in d.rglob("*.ipynb")}
    assert stale(everything, lab_ids()) == []
    assert stale({**everything, notebook: b"edited by hand"}, lab_ids()) == [notebook]


def _generated(text: str) -> bytes:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(text, id="only")])
    return _bytes(nb)


def test_assign_never_overwrites_a_notebook_edited_after_generation(tmp_path):
    path = tmp_path / "labZ" / "labZ.ipynb"  # a lab name no real file carries
    assert write({path: _generated("version 1")}, ["labZ"]) == [path]
    nb = nbformat.read(path, as_version=4)
    nb.cells[0].source = "a student's work"
    nbformat.write(nb, path)
    edited = path.read_bytes()
    with pytest.raises(EditedFiles, match="labZ.ipynb.*--force"):
        write({path: _generated("version 2")}, ["labZ"])
    assert path.read_bytes() == edited
    assert write({path: _generated("version 2")}, ["labZ"], force=True) == [path]
    (backup,) = tmp_path.glob("labZ/labZ.ipynb.bak-*")
    assert backup.read_bytes() == edited and path.read_bytes() == _generated("version 2")


def test_assign_updates_unedited_notebooks_and_leaves_other_files_alone(tmp_path):
    folder = tmp_path / "labZ"
    path, gone = folder / "labZ.ipynb", folder / "extra.ipynb"
    write({path: _generated("v1"), gone: _generated("dropped later")}, ["labZ"])
    mine = folder / "my_notes.ipynb"
    nbformat.write(nbformat.v4.new_notebook(), mine)
    checkpoint = folder / ".ipynb_checkpoints" / "labZ-checkpoint.ipynb"
    checkpoint.parent.mkdir()
    checkpoint.write_bytes(path.read_bytes())  # JupyterLab's copy: marked, but not generated
    assert stale({path: _generated("v1")}, ["labZ"], (tmp_path,)) == [gone]
    assert write({path: _generated("v2")}, ["labZ"], dirs=(tmp_path,)) == [gone, path]
    assert not gone.exists() and mine.exists() and checkpoint.exists()
    assert path.read_bytes() == _generated("v2")
