"""Collecting submissions from a folder or an LMS zip: every problem is a note, never a crash."""
from __future__ import annotations

import zipfile

import nbformat
import pytest

from autograder.submissions import collect, unpack_zip
from tests.conftest import toy_notebook, write_submission


def test_folder_layout_is_collected_per_student_and_lab(tmp_path):
    write_submission(tmp_path / "in", "ana", "toy", toy_notebook())
    write_submission(tmp_path / "in", "ben", "toy", toy_notebook())
    (tmp_path / "in" / "ben" / "notes.txt").write_text("extra files are ignored")
    found = collect(tmp_path / "in", ["toy"], tmp_path / "work")
    assert [(s.student, s.lab, s.notes) for s in found] == [("ana", "toy", []), ("ben", "toy", [])]
    assert all(nbformat.read(s.notebook, as_version=4).cells for s in found)


def test_missing_and_ambiguous_notebooks_are_explained(tmp_path):
    (tmp_path / "in" / "ana" / "toy").mkdir(parents=True)
    for name in ("a.ipynb", "b.ipynb"):
        nbformat.write(toy_notebook(), tmp_path / "in" / "ana" / "toy" / name)
    (tmp_path / "in" / "ben" / "toy").mkdir(parents=True)
    ana, ben = collect(tmp_path / "in", ["toy"], tmp_path / "work")
    assert ana.notebook is None and "found: a.ipynb, b.ipynb" in ana.notes[0]
    assert ben.notebook is None and "no toy.ipynb" in ben.notes[0]


def test_zip_with_a_wrapping_folder_is_unpacked(tmp_path):
    write_submission(tmp_path / "export" / "course-export", "ana", "toy", toy_notebook())
    archive = tmp_path / "export.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(tmp_path / "export" / "course-export" / "ana" / "toy" / "toy.ipynb",
                 "course-export/ana/toy/toy.ipynb")
    found = collect(archive, ["toy"], tmp_path / "work")
    assert [(s.student, s.notebook is not None) for s in found] == [("ana", True)]


def test_zip_entries_outside_the_archive_are_refused(tmp_path):
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("../../escaped.txt", "x")
    with pytest.raises(ValueError, match="points outside the archive"):
        unpack_zip(archive, tmp_path / "out")
    assert not (tmp_path / "escaped.txt").exists()


def test_a_path_that_is_neither_folder_nor_zip_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="expected a folder"):
        collect(tmp_path / "nope", ["toy"], tmp_path / "work")
