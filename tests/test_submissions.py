"""Collecting submissions from a folder or an LMS zip: every problem is a note, never a crash."""

from __future__ import annotations

import zipfile

import nbformat
import pytest

from autograder.submissions import NoSubmissions, collect, unpack_zip
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
        zf.write(
            tmp_path / "export" / "course-export" / "ana" / "toy" / "toy.ipynb",
            "course-export/ana/toy/toy.ipynb",
        )
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


def _zip(archive, files):
    """A zip of ``{name in the archive: notebook}`` with each member dated by its position."""
    with zipfile.ZipFile(archive, "w") as zf:
        for i, (name, nb) in enumerate(files.items()):
            info = zipfile.ZipInfo(name, date_time=(2026, 11, 1, 10, i, 0))
            zf.writestr(info, nbformat.writes(nb))
    return archive


def test_moodle_and_canvas_exports_grade_every_student(tmp_path):
    nb = toy_notebook()
    archive = _zip(
        tmp_path / "export.zip",
        {
            "Ana Horvat_12345_assignsubmission_file_toy.ipynb": nb,  # Moodle, one file
            "Ivo Ivić_23456_assignsubmission_file_/toy.ipynb": nb,  # Moodle, one folder
            "horvatmarko_34567_987654_toy.ipynb": nb,  # Canvas
        },
    )
    found = collect(archive, ["toy"], tmp_path / "work")
    assert [(s.student, s.name, s.notebook is not None) for s in found] == [
        ("12345", "Ana Horvat", True),
        ("23456", "Ivo Ivić", True),
        ("34567", "horvatmarko", True),
    ]


def test_a_second_zip_adds_its_students(tmp_path):
    first = _zip(tmp_path / "first.zip", {"ana_toy.ipynb": toy_notebook()})
    late = _zip(tmp_path / "late.zip", {"ben_toy.ipynb": toy_notebook()})
    assert [s.student for s in collect(first, ["toy"], tmp_path / "work")] == ["ana"]
    assert [s.student for s in collect(late, ["toy"], tmp_path / "work")] == ["ben"]


def test_the_newest_of_several_files_wins_and_the_others_are_listed(tmp_path):
    old, new = toy_notebook(), toy_notebook()
    new.cells[0].source = "# the resubmission"
    archive = _zip(
        tmp_path / "export.zip",
        {
            "horvatana_LATE_12345_1_toy.ipynb": old,  # dated first: older
            "horvatana_12345_2_toy-1.ipynb": new,
        },
    )
    found = collect(archive, ["toy"], tmp_path / "work")
    (ana,) = found
    assert nbformat.read(ana.notebook, as_version=4).cells[0].source == "# the resubmission"
    assert found.set_aside == [
        "12345/toy: horvatana_LATE_12345_1_toy.ipynb " "(older than horvatana_12345_2_toy-1.ipynb)"
    ]


def test_notebooks_matching_no_layout_are_listed(tmp_path):
    write_submission(tmp_path / "in", "ana", "toy", toy_notebook())
    nbformat.write(toy_notebook(), tmp_path / "in" / "untitled.ipynb")
    found = collect(tmp_path / "in", ["toy"], tmp_path / "work")
    assert [s.student for s in found] == ["ana"]
    assert found.unmatched == ["untitled.ipynb"]
    assert "matches no layout, not graded: untitled.ipynb" in found.report()


def test_an_instructors_id_pattern_names_the_students(tmp_path):
    (tmp_path / "in").mkdir()
    for name in ("0036512345-toy-final.ipynb", "0036567890-toy.ipynb"):
        nbformat.write(toy_notebook(), tmp_path / "in" / name)
    found = collect(
        tmp_path / "in", ["toy"], tmp_path / "work", id_pattern=r"^(?P<student>\d{10})-"
    )
    assert [s.student for s in found] == ["0036512345", "0036567890"]


def test_finding_no_submission_is_an_error_that_names_the_layouts(tmp_path):
    (tmp_path / "in").mkdir()
    nbformat.write(toy_notebook(), tmp_path / "in" / "notes.ipynb")
    with pytest.raises(NoSubmissions, match="no submission of toy found .*notes.ipynb.*Moodle"):
        collect(tmp_path / "in", ["toy"], tmp_path / "work")
