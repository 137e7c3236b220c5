"""The grades CSV and the class table: one row per student, per-lab subtotals, roster students."""

from __future__ import annotations

import csv

import pytest

from autograder.gradesheet import Gradesheet, gradesheet, read_roster

SHEET = Gradesheet(
    columns=[("lab0:a", 2.0), ("lab0:b", 3.0), ("lab1:c", 5.0)],
    rows={"ana": {"lab0:a": 2.0, "lab0:b": 1.0, "lab1:c": 5.0}, "ben": {"lab0:a": 0.5}, "cid": {}},
    missing={"ben": ["lab1"], "cid": ["lab0", "lab1"]},
)


def test_csv_has_one_row_per_student_a_column_per_task_and_per_lab_subtotals(tmp_path):
    SHEET.write_csv(tmp_path / "grades.csv")
    rows = list(csv.reader((tmp_path / "grades.csv").read_text().splitlines()))
    assert rows == [
        [
            "student_id",
            "lab0:a",
            "lab0:b",
            "lab1:c",
            "lab0 total",
            "lab0 %",
            "lab1 total",
            "lab1 %",
            "total",
            "max",
            "%",
            "status",
        ],
        ["ana", "2", "1", "5", "3", "60.0%", "5", "100.0%", "8", "10", "80.0%", ""],
        [
            "ben",
            "0.5",
            "0",
            "0",
            "0.5",
            "10.0%",
            "0",
            "0.0%",
            "0.5",
            "10",
            "5.0%",
            "no submission: lab1",
        ],
        [
            "cid",
            "0",
            "0",
            "0",
            "0",
            "0.0%",
            "0",
            "0.0%",
            "0",
            "10",
            "0.0%",
            "no submission: lab0, lab1",
        ],
    ]


def test_table_has_a_line_per_student_and_a_column_per_lab():
    lines = SHEET.table().splitlines()
    assert lines[0].split() == ["student", "lab0", "lab1", "total", "%"]
    assert lines[1].split() == ["(max)", "5", "5", "10"]
    assert lines[2].split() == ["ana", "3", "5", "8", "80.0%"]
    assert lines[3].split() == ["ben", "0.5", "-", "0.5", "5.0%"]  # '-': nothing handed in
    assert len(lines) == 5


@pytest.mark.parametrize(
    "text, ids",
    [
        ("student_id,name\n0036,Ana\n0037,Ben\n", ["0036", "0037"]),
        ("Name,Username\nAna,ana\nBen,ben\n\n", ["ana", "ben"]),
        ("0036\n0037\n0036\n", ["0036", "0037"]),  # no header: the first column, repeats once
    ],
)
def test_a_roster_gives_the_student_ids(tmp_path, text, ids):
    (tmp_path / "roster.csv").write_text(text)
    assert read_roster(tmp_path / "roster.csv") == ids


def test_an_empty_roster_is_an_error(tmp_path):
    (tmp_path / "roster.csv").write_text("\n")
    with pytest.raises(ValueError, match="roster is empty"):
        read_roster(tmp_path / "roster.csv")


class _Course:
    """What ``gradesheet`` reads of a course: one lab 'toy' (2 points), graded for two ids."""

    def __init__(self, tmp_path):
        self.notebook = tmp_path / "toy.ipynb"
        self.notebook.write_text("{}")

    def release_notebook(self, lab):
        return self.notebook

    def tasks(self, lab):
        return [("a", 2.0)]

    def scores(self, lab):
        return {"12345": {"a": 2.0}, "34567": {"a": 1.0}}

    def written(self, lab):
        return []

    def pending(self, lab):
        return {}


def test_graded_students_missing_from_the_roster_are_told_not_dropped(tmp_path):
    """A Canvas export names students by user id; a roster of logins matches none of them:
    the run says so, and their grades stay in the CSV."""
    sheet = gradesheet(_Course(tmp_path), ["toy"], roster=["12345", "markomaric"])
    assert sheet.unlisted == ["34567"]
    assert sheet.status("34567") == "not on the roster"
    assert sheet.status("markomaric") == "no submission: toy"
    assert sheet.table().splitlines()[-1].startswith("not on the roster (graded, in the CSV;")
    assert sheet.table().splitlines()[-1].endswith(": 34567")
    assert gradesheet(_Course(tmp_path), ["toy"]).unlisted == []  # no roster: nobody unlisted


WRITTEN = Gradesheet(
    columns=[("lab0:a", 2.0), ("lab0:q_why", 3.0), ("lab0:q_how", 1.0)],
    rows={
        "ana": {"lab0:a": 2.0, "lab0:q_why": 0.0, "lab0:q_how": 0.0},
        "ben": {"lab0:a": 1.0, "lab0:q_why": 2.5, "lab0:q_how": 0.0},
        "cid": {},
    },
    missing={"cid": ["lab0"]},
    written={"lab0:q_why", "lab0:q_how"},
    pending={"ana": ["lab0:q_why", "lab0:q_how"]},
)
"""ana's answers wait for a TA; ben's are graded (2.5, and 0 for "No response."); cid handed
nothing in."""


def test_csv_leaves_an_answer_waiting_for_a_ta_empty_and_says_so(tmp_path):
    WRITTEN.write_csv(tmp_path / "grades.csv")
    rows = {r["student_id"]: r for r in csv.DictReader((tmp_path / "grades.csv").open())}
    assert list(rows["ana"])[1:4] == ["lab0:a", "lab0:q_why (written)", "lab0:q_how (written)"]
    assert [rows["ana"][k] for k in ("lab0:q_why (written)", "lab0:q_how (written)")] == ["", ""]
    assert rows["ana"]["total"] == "2" and rows["ana"]["max"] == "6"
    assert rows["ana"]["status"] == "2 answers to grade by hand (formgrader): lab0"
    assert (rows["ben"]["lab0:q_why (written)"], rows["ben"]["total"]) == ("2.5", "3.5")
    assert rows["ben"]["status"] == "" and rows["cid"]["status"] == "no submission: lab0"


def test_table_counts_the_answers_waiting_for_a_ta():
    lines = WRITTEN.table().splitlines()
    assert lines[0].split() == ["student", "lab0", "total", "%", "by", "hand"]
    assert lines[2].split() == ["ana", "2", "2", "33.3%", "2", "(4", "pts)"]
    assert lines[3].split() == ["ben", "3.5", "3.5", "58.3%", "-"]
    assert lines[-1].startswith("by hand: 2 answers (4 points) waiting for a TA, not yet in")
    assert "by hand" not in SHEET.table()  # labs without written answers: no such column


def test_a_status_tells_every_reason_at_once():
    sheet = Gradesheet(
        [("lab0:q", 1.0), ("lab1:a", 1.0)],
        {"ana": {"lab0:q": 0.0}},
        missing={"ana": ["lab1"]},
        written={"lab0:q"},
        pending={"ana": ["lab0:q"]},
    )
    assert sheet.status("ana") == (
        "no submission: lab1; 1 answer to grade by hand (formgrader): lab0"
    )
