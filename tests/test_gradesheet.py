"""The grades CSV: one row per student, a column per graded task, total and max."""
from __future__ import annotations

import csv

from autograder.gradesheet import Gradesheet


def test_csv_has_one_row_per_student_and_a_column_per_task(tmp_path):
    sheet = Gradesheet(columns=[("lab0:a", 2.0), ("lab0:b", 3.0)],
                       rows={"ana": {"lab0:a": 2.0, "lab0:b": 1.0}, "ben": {"lab0:a": 0.5}})
    sheet.write_csv(tmp_path / "grades.csv")
    rows = list(csv.reader(open(tmp_path / "grades.csv")))
    assert rows == [["student_id", "lab0:a", "lab0:b", "total", "max"],
                    ["ana", "2", "1", "3", "5"],
                    ["ben", "0.5", "0", "0.5", "5"]]


def test_table_shows_tasks_and_percentages():
    sheet = Gradesheet(columns=[("lab0:a", 2.0)], rows={"ana": {"lab0:a": 1.0}})
    table = sheet.table()
    assert "lab0:a" in table and "50.0%" in table
