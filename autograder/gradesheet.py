"""Scores from the gradebook as one sheet: a printed table and the CSV for the LMS.

One row per student. The CSV has a column per graded task, then each lab's subtotal and
percentage, then the total, maximum and percentage, and a status per lab ("no submission" for a
roster student who handed nothing in). The printed table has a column per lab, readable for a
whole class. Bonus tasks (``dlcourse.tasks.bonus``) count in totals, not in maxima, as nbgrader's
extra credit: a percentage can pass 100.

Written answers (the course's questions) are graded by hand, by TAs in nbgrader's formgrader:
until a TA grades one, its CSV cell is empty, the student's status says how many answers wait,
and the table's "by hand" column gives their count and points; once graded, the TA's score
counts like any other.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

from dlcourse import tasks

from .course import Course

NO_SUBMISSION = "no submission"
NOT_ON_ROSTER = "not on the roster"
BY_HAND = "to grade by hand (formgrader)"


@dataclass
class Gradesheet:
    """``columns``: (``lab:task``, points) in notebook order; ``rows``: student -> column ->
    score; ``missing``: student -> labs they handed nothing in for (roster students); ``bonus``:
    the columns of bonus tasks (not in the maxima); ``unlisted``: graded students a roster given
    lacks (an id the LMS spells otherwise than the roster, or a student from another class);
    ``written``: the columns of written answers (graded by hand); ``pending``: student -> the
    written answers a TA has still to grade."""

    columns: list[tuple[str, float]]
    rows: dict[str, dict[str, float]]
    missing: dict[str, list[str]] = field(default_factory=dict)
    bonus: set[str] = field(default_factory=set)
    unlisted: list[str] = field(default_factory=list)
    written: set[str] = field(default_factory=set)
    pending: dict[str, list[str]] = field(default_factory=dict)

    @property
    def labs(self) -> list[str]:
        """The labs of the columns, in order."""
        return list(dict.fromkeys(name.split(":", 1)[0] for name, _ in self.columns))

    @property
    def max(self) -> float:
        """The points of every required task (bonus tasks are extra credit)."""
        return sum(points for name, points in self.columns if name not in self.bonus)

    def lab_max(self, lab: str) -> float:
        return sum(
            points
            for name, points in self.columns
            if name.startswith(f"{lab}:") and name not in self.bonus
        )

    def total(self, student: str, lab: str | None = None) -> float:
        """The student's points, in all or in one lab."""
        prefix = f"{lab}:" if lab else ""
        return sum(s for name, s in self.rows[student].items() if name.startswith(prefix))

    def waiting(self, student: str) -> tuple[int, float]:
        """(answers, points) of the student's written answers a TA has still to grade."""
        worth = dict(self.columns)
        waiting = self.pending.get(student, [])
        return len(waiting), sum(worth.get(name, 0.0) for name in waiting)

    def status(self, student: str) -> str:
        """'no submission: lab1, lab2' for a roster student who missed labs, 'not on the roster'
        for a graded student the roster lacks, '2 answers to grade by hand (formgrader): lab0'
        while written answers wait for a TA ('; ' between them), else ''."""
        missing, (answers, _) = self.missing.get(student, []), self.waiting(student)
        labs = dict.fromkeys(name.split(":", 1)[0] for name in self.pending.get(student, []))
        parts = [
            NOT_ON_ROSTER if student in self.unlisted else "",
            f"{NO_SUBMISSION}: {', '.join(missing)}" if missing else "",
            f"{_answers(answers)} {BY_HAND}: {', '.join(labs)}" if answers else "",
        ]
        return "; ".join(part for part in parts if part)

    def write_csv(self, path: Path) -> None:
        """One row per student: student_id, a column per task, per-lab total and %, total, max,
        %, status."""
        path.parent.mkdir(parents=True, exist_ok=True)
        labs = self.labs
        with open(path, "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(
                [
                    "student_id",
                    *(_header(name, self.bonus, self.written) for name, _ in self.columns),
                    *(f"{lab} {what}" for lab in labs for what in ("total", "%")),
                    "total",
                    "max",
                    "%",
                    "status",
                ]
            )
            for student, scores in self.rows.items():
                waiting = set(self.pending.get(student, []))
                cells = [
                    "" if name in waiting else _num(scores.get(name, 0.0))
                    for name, _ in self.columns
                ]
                per_lab = [
                    v
                    for lab in labs
                    for v in (_num(self.total(student, lab)), self._pct(student, lab))
                ]
                writer.writerow(
                    [
                        student,
                        *cells,
                        *per_lab,
                        _num(self.total(student)),
                        _num(self.max),
                        self._pct(student),
                        self.status(student),
                    ]
                )

    def table(self) -> str:
        """One line per student: each lab's points (or '-' where nothing was handed in),
        the total and the percentage, and (where the labs ask written answers) how many answers
        and points wait for a TA; the first line gives the maxima."""
        labs = self.labs
        width = max([len(s) for s in self.rows] + [len("student")])
        cell = max([len(lab) for lab in labs] + [len(_num(self.max)), len("total")]) + 2
        hand = [self._by_hand(student) for student in self.rows] if self.written else []
        by_hand = max(map(len, hand + ["by hand"])) + 2 if self.written else 0
        lines = [
            f"{'student':<{width}}"
            + "".join(f"{lab:>{cell}}" for lab in labs)
            + f"{'total':>{cell}}{'%':>8}{'by hand' if hand else '':>{by_hand}}",
            f"{'(max)':<{width}}"
            + "".join(f"{_num(self.lab_max(lab)):>{cell}}" for lab in labs)
            + f"{_num(self.max):>{cell}}{'':>8}",
        ]
        for n, student in enumerate(self.rows):
            missing = self.missing.get(student, [])
            scores = "".join(
                f"{'-' if lab in missing else _num(self.total(student, lab)):>{cell}}"
                for lab in labs
            )
            lines.append(
                f"{student:<{width}}{scores}{_num(self.total(student)):>{cell}}"
                f"{self._pct(student):>8}{hand[n] if hand else '':>{by_hand}}"
            )
        if any(self.pending.values()):
            answers, worth = map(sum, zip(*(self.waiting(student) for student in self.rows)))
            lines.append(
                f"by hand: {_answers(answers)} ({_num(worth)} points) waiting for a TA, not yet "
                "in the totals: grade them in `python -m autograder formgrader`, then run feedback "
                "and export"
            )
        if self.unlisted:
            lines.append(
                f"{NOT_ON_ROSTER} (graded, in the CSV; does the roster use the LMS's ids, Moodle's "
                f"number or Canvas's user id?): {', '.join(self.unlisted)}"
            )
        return "\n".join(lines)

    def _by_hand(self, student: str) -> str:
        """'3 (5 pts)': the student's answers (points) waiting for a TA; '-' when none."""
        answers, worth = self.waiting(student)
        return f"{answers} ({_num(worth)} pts)" if answers else "-"

    def _pct(self, student: str, lab: str | None = None) -> str:
        top = self.lab_max(lab) if lab else self.max
        return f"{100 * self.total(student, lab) / top:.1f}%" if top else "-"


def gradesheet(course: Course, labs: list[str], roster: list[str] | None = None) -> Gradesheet:
    """Every student with at least one graded lab, and every student of ``roster``; a lab not
    handed in scores 0 (and, for roster students, is listed as missing). Labs not assigned in
    ``course`` have no columns."""
    columns, rows, graded, bonus, written, pending = [], {}, {}, set(), set(), {}
    for lab in (lab for lab in labs if course.release_notebook(lab).is_file()):
        columns += [(f"{lab}:{task}", points) for task, points in course.tasks(lab)]
        bonus |= {f"{lab}:{task}" for task in tasks.bonus(lab)}
        written |= {f"{lab}:{task}" for task in course.written(lab)}
        for student, scores in course.scores(lab).items():
            rows.setdefault(student, {}).update({f"{lab}:{t}": s for t, s in scores.items()})
            graded.setdefault(student, set()).add(lab)
        for student, waiting in course.pending(lab).items():
            pending.setdefault(student, []).extend(f"{lab}:{task}" for task in waiting)
    missing = {}
    for student in roster or []:
        rows.setdefault(student, {})
        if absent := [lab for lab in labs if lab not in graded.get(student, set())]:
            missing[student] = absent
    unlisted = sorted(set(graded) - set(roster)) if roster else []
    return Gradesheet(
        columns, dict(sorted(rows.items())), missing, bonus, unlisted, written, pending
    )


def read_roster(path: Path) -> list[str]:
    """Student ids from a CSV roster: the column named like ``student_id``/``id``/``username``
    (case and spaces ignored), else the first column; a header row is recognised by that name."""
    if not path.is_file():
        raise ValueError(
            f"{path}: no such roster file; give a CSV of student ids (a column "
            "named student_id, or one id per row)"
        )
    with open(path, newline="", encoding="utf-8-sig") as f:
        rows = [row for row in csv.reader(f) if row and any(cell.strip() for cell in row)]
    if not rows:
        raise ValueError(f"{path}: the roster is empty; give a CSV with one student id per row")
    header = [cell.strip().lower().replace(" ", "_") for cell in rows[0]]
    names = ("student_id", "id", "username", "student", "login")
    column = next((header.index(n) for n in names if n in header), None)
    body = rows[1:] if column is not None else rows
    ids = [row[column or 0].strip() for row in body if len(row) > (column or 0)]
    return sorted(dict.fromkeys(i for i in ids if i))


def _answers(n: int) -> str:
    return f"{n} answer" + "s" * (n != 1)


def _header(name: str, bonus: set[str], written: set[str]) -> str:
    """A task's CSV column: its name, marked '(bonus)' or '(written)' (graded by hand)."""
    return f"{name} (bonus)" if name in bonus else f"{name} (written)" if name in written else name


def _num(x: float) -> str:
    """Scores without float noise: 3, 2.5, 0.333333."""
    return f"{round(x, 6):g}"
