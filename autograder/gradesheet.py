"""Scores from the gradebook as one sheet: a printed table and the CSV for the LMS."""
from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from .course import Course

WIDE_TABLE_STUDENTS = 6
"""Up to this many students the table shows every task; beyond it, totals (the CSV has all)."""


@dataclass
class Gradesheet:
    """``columns``: (``lab:task``, max points) in notebook order; ``rows``: student -> column -> score."""

    columns: list[tuple[str, float]]
    rows: dict[str, dict[str, float]]

    @property
    def max(self) -> float:
        return sum(points for _, points in self.columns)

    def total(self, student: str) -> float:
        return sum(self.rows[student].values())

    def write_csv(self, path: Path) -> None:
        """One row per student: student_id, one column per graded task, total, max."""
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["student_id", *(name for name, _ in self.columns), "total", "max"])
            for student, scores in self.rows.items():
                cells = [_num(scores.get(name, 0.0)) for name, _ in self.columns]
                writer.writerow([student, *cells, _num(self.total(student)), _num(self.max)])

    def table(self) -> str:
        """Tasks down, students across (few students) or one line per student (many)."""
        students = list(self.rows)
        if len(students) > WIDE_TABLE_STUDENTS:
            return "\n".join(f"{s:<24} {self.total(s):6.2f} / {self.max:g}  {self._pct(s)}" for s in students)
        width = max([len(s) for s in students] + [9])
        name_width = max([len(name) for name, _ in self.columns] + [5])
        lines = [f"{'task':<{name_width}}  {'max':>5}  " + "  ".join(f"{s:>{width}}" for s in students)]
        for name, points in self.columns:
            scores = "  ".join(f"{_num(self.rows[s].get(name, 0.0)):>{width}}" for s in students)
            lines.append(f"{name:<{name_width}}  {points:>5g}  {scores}")
        lines.append(f"{'total':<{name_width}}  {self.max:>5g}  "
                     + "  ".join(f"{_num(self.total(s)):>{width}}" for s in students))
        lines.append(f"{'%':<{name_width}}  {'':>5}  " + "  ".join(f"{self._pct(s):>{width}}" for s in students))
        return "\n".join(lines)

    def _pct(self, student: str) -> str:
        return f"{100 * self.total(student) / self.max:.1f}%" if self.max else "-"


def gradesheet(course: Course, labs: list[str]) -> Gradesheet:
    """Every student with at least one graded lab; a lab not handed in scores 0."""
    columns, rows = [], {}
    for lab in labs:
        columns += [(f"{lab}:{task}", points) for task, points in course.tasks(lab)]
        for student, scores in course.scores(lab).items():
            rows.setdefault(student, {}).update({f"{lab}:{t}": s for t, s in scores.items()})
    return Gradesheet(columns, dict(sorted(rows.items())))


def _num(x: float) -> str:
    """Scores without float noise: 3, 2.5, 0.333333."""
    return f"{round(x, 6):g}"
