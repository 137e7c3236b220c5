"""A course folder driven through nbgrader's Python API: assign, autograde, feedback, scores.

The folder (``--course-dir``) holds nbgrader's gradebook and working folders::

    <course>/gradebook.db
    <course>/source/<lab>/<lab>.ipynb        copied from the repo's solutions/
    <course>/release/<lab>/<lab>.ipynb       nbgrader's student version
    <course>/submitted/<student>/<lab>/      what a student handed in
    <course>/autograded/..., feedback/...    nbgrader's results

so a grading run can happen anywhere without touching the repository.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import re
import secrets
import shutil
import sys
import time
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jupyter_server_mathjax
import nbformat
from nbgrader.api import Gradebook, MissingEntry
from nbgrader.apps import NbGraderAPI
from nbgrader.converters import GenerateFeedback
from nbgrader.coursedir import CourseDirectory
from nbgrader.utils import capture_log, temp_attrs

from dlcourse import check, tasks
from dlcourse.config import data_root
from dlcourse.validate import duplicate_grade_ids

from . import nofollow, points, sandbox
from .config import CELL_TIMEOUT, MATHJAX, nbgrader_config
from .execute import NOTEBOOK_TIMEOUT, OVERLOADED, STOPPED, TIMED_OUT
from .preprocessors import is_written_answer

REPO = Path(__file__).resolve().parents[1]
SOLUTIONS = REPO / "solutions"
DEFAULT_COURSE_DIR = REPO / "autograder" / "course"
MEMORY_LIMIT = 4 * 2**30
"""Bytes of memory (RLIMIT_DATA) a student's kernel may use (None: no limit)."""
SECRET_FILE = "hidden_secret"
"""The course's secret for hidden cases, in its folder (``course_secret``): a student's kernel
never sees the course folder."""
KERNEL_SEES = (
    REPO / "dlcourse",
    REPO / "data",
    *(REPO / "autograder" / name for name in ("__init__.py", "kernel.py", "sandbox.py")),
)
"""All of the repository a student's kernel sees while grading: the course package, its bundled
data and the modules it runs to answer the grader. Solutions, references, samples, the grader and
git's history are hidden with the rest."""

# nbgrader's log lines that matter to a student, in words a student understands.
_NBGRADER_NOTES = [
    (r"Missing grade cell (\S+) encountered", "graded cell '{0}' was deleted; it was put back"),
    (r"Locked cell '(\S+)' was edited", "locked cell '{0}' was edited; the original was restored"),
    (
        r"Cell with id '(\S+)' exists multiple times",
        "grade id '{0}' appears more than once; only the last copy counts",
    ),
    (
        r"Cells were reordered",
        "cells were reordered; graded cells were put back in the assignment's order",
    ),
    (
        r"Cell '(\S+)' does not exist in the database",
        "cell '{0}' is not part of the assignment; it was not graded",
    ),
]


def _use_this_environment() -> None:
    """Put this interpreter's bin/ first on PATH: nbgrader runs the ``alembic`` command when it
    creates a gradebook, and ``.venv/bin/python -m autograder`` does not activate the venv."""
    bindir = str(Path(sys.executable).parent)
    if os.environ.get("PATH", "").split(os.pathsep)[0] != bindir:
        os.environ["PATH"] = bindir + os.pathsep + os.environ.get("PATH", "")


def course_secret(root: Path) -> str:
    """The secret the hidden cases' seeds are drawn from (``dlcourse.check.hidden``):
    ``$DLCOURSE_HIDDEN_SECRET`` if set, else the course folder's ``hidden_secret`` file, made on
    first use. A new term starts a new one (a new course folder, or delete the file), so that
    last term's feedback tells nothing about this term's hidden cases."""
    if os.environ.get(check.SECRET_ENV):
        return os.environ[check.SECRET_ENV]
    path = root / SECRET_FILE
    try:
        with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as f:
            f.write(secrets.token_hex(16) + "\n")
        print(
            f"hidden cases: made a new secret in {path}; start a new one each term (delete the "
            "file, or grade in a new course folder)",
            file=sys.stderr,
        )
    except FileExistsError:
        pass  # made before (or meanwhile, by another process)
    secret = path.read_text().strip()
    if not secret:
        raise GradingError(
            f"{path} is empty: delete it to make a new secret, or set " f"${check.SECRET_ENV}"
        )
    return secret


def import_checks(lab: str) -> None:
    """Import what the test cells of ``lab`` import here, in the grader, before any student kernel
    starts: the checking machinery, the lab's checks and its references. A module is imported
    once per process, so nothing a kernel does afterwards can change the checks that grade."""
    for module in ("dlcourse.check", f"dlcourse.tasks.{lab}", f"autograder.reference.{lab}"):
        if importlib.util.find_spec(module) is not None:
            importlib.import_module(module)


class GradingError(RuntimeError):
    """nbgrader could not do what was asked; the message says what and what to do."""


def lab_ids() -> list[str]:
    """Labs in solutions/: folders ``<lab>/`` holding ``<lab>.ipynb``."""
    return sorted(p.parent.name for p in SOLUTIONS.glob("*/*.ipynb") if p.stem == p.parent.name)


def nbgrader_notes(log: str) -> list[str]:
    """Student-facing notes for what nbgrader's log says it repaired in a submission."""
    notes = []
    for pattern, message in _NBGRADER_NOTES:
        notes += [message.format(*m.groups()) for m in re.finditer(pattern, log)]
    return notes


@dataclass
class Outcome:
    """What happened to one student's submission of one lab."""

    student: str
    lab: str
    notes: list[str] = field(default_factory=list)
    infrastructure: str | None = None
    """Why this is no grade, when the grading failed and the student did not (the machine was
    overloaded: ``autograder.execute``); such a submission is graded again."""


class Course:
    """One course folder and the nbgrader API over it."""

    def __init__(
        self,
        root: Path = DEFAULT_COURSE_DIR,
        *,
        solutions: Path = SOLUTIONS,
        cell_timeout: int = CELL_TIMEOUT,
        notebook_timeout: int = NOTEBOOK_TIMEOUT,
        memory_limit: int | None = MEMORY_LIMIT,
        db_url: str | None = None,
        unsafe_no_sandbox: bool = False,
        hidden_secret: str | None = None,
    ):
        """``hidden_secret``: what hidden cases' seeds are drawn from (None: ``course_secret``)."""
        _use_this_environment()
        self.root = Path(root).resolve()
        self.solutions = Path(solutions)
        self.memory_limit = memory_limit
        self.unsafe_no_sandbox = unsafe_no_sandbox
        self._settings = {
            "cell_timeout": cell_timeout,
            "notebook_timeout": notebook_timeout,
            "memory_limit": memory_limit,
            "unsafe_no_sandbox": unsafe_no_sandbox,
        }
        self._hidden_secret = hidden_secret
        self.root.mkdir(parents=True, exist_ok=True)
        db_url = db_url or f"sqlite:///{self.root / 'gradebook.db'}"
        gradebook = [db_url.removeprefix("sqlite:///")] if db_url.startswith("sqlite:///") else []
        config = nbgrader_config(
            self.root,
            cell_timeout=cell_timeout,
            notebook_timeout=notebook_timeout,
            db_url=db_url,
            memory_limit=memory_limit,
            unsafe_no_sandbox=unsafe_no_sandbox,
            hidden=[REPO, self.solutions, SOLUTIONS, *gradebook],
            visible=[*KERNEL_SEES, data_root()],
        )
        self.coursedir = CourseDirectory(config=config)
        self.api = NbGraderAPI(coursedir=self.coursedir, config=config)

    @property
    def settings(self) -> dict[str, Any]:
        """What a copy of this course needs to grade the same way (``autograder.grading``): its
        limits and its secret (read, or made, only once something is graded: ``course_secret``)."""
        if self._hidden_secret is None:
            self._hidden_secret = course_secret(self.root)
        return {**self._settings, "hidden_secret": self._hidden_secret}

    # -- paths ---------------------------------------------------------------------------------
    def source_folder(self, lab: str) -> Path:
        """The lab as assigned: its solutions folder, with the points declared (``assign``)."""
        return self.root / "source" / lab

    def release_notebook(self, lab: str) -> Path:
        return self.root / "release" / lab / f"{lab}.ipynb"

    def submitted_folder(self, student: str, lab: str) -> Path:
        return self.root / self.submitted(student, lab)

    def feedback_file(self, student: str, lab: str) -> Path:
        return self.root / "feedback" / student / lab / f"{lab}.html"

    # A submission's folders are where a hostile notebook may have left links: they are read and
    # written through ``nofollow``, by these paths relative to the root.
    @staticmethod
    def submitted(student: str, lab: str, name: str = "") -> str:
        """``submitted/<student>/<lab>[/<name>]``: what the student handed in."""
        return "/".join(filter(None, ("submitted", student, lab, name)))

    @staticmethod
    def autograded(student: str, lab: str, name: str = "") -> str:
        """``autograded/<student>/<lab>[/<name>]``: the notebook as graded (and grading's marks)."""
        return "/".join(filter(None, ("autograded", student, lab, name)))

    # -- assign --------------------------------------------------------------------------------
    def assign(self, lab: str) -> Path:
        """solutions/<lab>/ -> <course>/release/<lab>/ via nbgrader, with the points its task
        table declares (``autograder.points``); returns the release notebook."""
        src = self.solutions / lab
        notebook = nbformat.read(src / f"{lab}.ipynb", as_version=4)
        if dups := duplicate_grade_ids(notebook):
            listed = "; ".join(f"'{gid}' in cells {cells}" for gid, cells in dups.items())
            raise GradingError(
                f"{src / lab}.ipynb: duplicate grade ids: {listed}. "
                "Give every graded or solution cell its own grade id."
            )
        if tasks.declared(lab):
            try:
                points.declare(lab, notebook)
            except points.PointsMismatch as exc:
                raise GradingError(str(exc)) from None
        dest = self.source_folder(lab)
        shutil.rmtree(dest, ignore_errors=True)
        shutil.copytree(
            src, dest, ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__")
        )
        nbformat.write(notebook, dest / f"{lab}.ipynb")  # with the declared points
        self._check(self.api.generate_assignment(lab, force=True, create=True), f"generate {lab}")
        return self.release_notebook(lab)

    # -- autograde -----------------------------------------------------------------------------
    def autograde(
        self, student: str, lab: str, notebook: Path | None, notes: list[str] | None = None
    ) -> Outcome:
        """Grade one submission (None: nothing usable was handed in, every task scores 0).

        ``notes`` (from collecting the submission) and what nbgrader repaired end up in the
        Outcome and at the top of the student's feedback.
        """
        notes = list(notes or [])
        import_checks(lab)
        check.use_secret(self.settings["hidden_secret"])
        self.check_sandbox()
        nofollow.remove(self.root, self.submitted(student, lab))
        if notebook is None:
            nofollow.make_folders(self.root, self.submitted(student, lab))
            self.record_scores(student, lab, {})
            return Outcome(student, lab, notes)
        nofollow.write_bytes(
            self.root, self.submitted(student, lab, f"{lab}.ipynb"), notebook.read_bytes()
        )
        with Gradebook(self.coursedir.db_url, self.coursedir.course_id) as gb:
            _submission(gb, student, lab)  # made here, nbgrader's autograde only updates it
        result = self.api.autograde(lab, student, force=True, create=True)
        if not result["success"]:
            self.record_scores(student, lab, {})
            return Outcome(
                student, lab, notes + [f"nbgrader could not grade it: {_last_line(result)}"]
            )
        notes += nbgrader_notes(result.get("log", "")) + self._execution_notes(student, lab)
        if notes:
            self._add_notes_cell(student, lab, notes)
        return Outcome(student, lab, notes)

    def check_sandbox(self) -> None:
        """Refuse to grade where student kernels can't be sandboxed, unless told to anyway."""
        reason = None if self.unsafe_no_sandbox else sandbox.unavailable()
        if reason:
            raise GradingError(
                f"{reason}, so student notebooks can't be graded safely; install it "
                "or pass --unsafe-no-sandbox (students' code could then read the "
                "solutions and change grades)"
            )

    def autograded_notebook(self, student: str, lab: str) -> nbformat.NotebookNode:
        """The autograded notebook, read without following links (``autograder.nofollow``)."""
        data = nofollow.read_bytes(self.root, self.autograded(student, lab, f"{lab}.ipynb"))
        return nbformat.reads(data.decode(), as_version=4)

    def _execution_notes(self, student: str, lab: str) -> list[str]:
        """Cells that ran past the time limit per cell, and why cells were not run (a dead or
        hung kernel, the notebook's time limit, an overloaded machine), from their outputs."""
        notes = []
        for cell in self.autograded_notebook(student, lab).cells:
            for output in cell.get("outputs", []):
                if output.output_type != "error":
                    continue
                if output.ename == TIMED_OUT:
                    notes.append(output.evalue)
                elif output.ename == OVERLOADED:
                    return notes + [f"not graded: {output.evalue}"]
                elif output.ename in STOPPED:
                    return notes + [
                        f"{output.evalue}; later cells were not run and their tests " "score 0"
                    ]
        return notes

    def _add_notes_cell(self, student: str, lab: str, notes: list[str]) -> None:
        """Put the grading notes first in the autograded notebook, so feedback shows them."""
        nb = self.autograded_notebook(student, lab)
        text = "**Grading notes**\n\n" + "\n".join(f"- {note}" for note in notes)
        nb.cells.insert(0, nbformat.v4.new_markdown_cell(text, id="grading-notes"))
        nofollow.write_bytes(
            self.root, self.autograded(student, lab, f"{lab}.ipynb"), nbformat.writes(nb).encode()
        )

    def record_scores(
        self,
        student: str,
        lab: str,
        scores: dict[str, float | None],
        changed: Collection[str] = (),
    ) -> None:
        """Set a submission's automatic scores (task -> points; a task not given scores 0; a
        bonus task's points are saved as extra credit, as ``SaveTaskGrades`` does).

        Every score field of an autograded-only cell (a code test cell, not a manually graded
        answer) is this method's: ``manual_score`` and ``extra_credit`` there can only have come
        from elsewhere than a TA (nothing asks a TA to grade such a cell), so they are reset.
        A written answer's automatic score is None when it was answered (a TA grades it: it
        needs a manual grade until one is given) and 0 when left as handed out ("No
        response."); what a TA gave it (manual score, extra credit, comment) is kept, so a
        regrade never undoes manual grading. An answer in ``changed`` (a new submission says
        otherwise than the one the TA graded) keeps its grade but needs a TA again (review)."""
        extra = tasks.bonus(lab)
        with Gradebook(self.coursedir.db_url, self.coursedir.course_id) as gb:
            _submission(gb, student, lab)
            notebook = gb.find_submission_notebook(lab, lab, student)
            answers = {cell.name for cell in notebook.notebook.solution_cells}
            for grade in notebook.grades:
                if grade.cell_type == "markdown" and grade.name in answers:
                    score = scores.get(grade.name, 0.0)
                    _record_answer(gb, grade, score, (student, lab), grade.name in changed)
                    continue
                score = float(scores.get(grade.name) or 0.0)
                grade.auto_score, grade.needs_manual_grade = score, False
                if grade.cell_type == "code" and grade.name not in answers:
                    grade.manual_score = grade.extra_credit = None
                if grade.name in extra:
                    grade.auto_score, grade.extra_credit = 0.0, score
            gb.db.commit()

    def written(self, lab: str) -> list[str]:
        """Grade ids of the lab's written answers (markdown answer cells, graded by hand), in
        notebook order."""
        cells = nbformat.read(self.release_notebook(lab), as_version=4).cells
        return [c.metadata.nbgrader["grade_id"] for c in cells if is_written_answer(c)]

    def autograded_scores(self, lab: str, student: str) -> dict[str, float | None]:
        """Task -> the score grading gave (a bonus's extra credit included; no TA's score), None
        for a written answer that waits for a TA: what ``record_scores`` takes."""
        with Gradebook(self.coursedir.db_url, self.coursedir.course_id) as gb:
            try:
                nb = gb.find_submission_notebook(lab, lab, student)
            except MissingEntry:
                return {}
            return {
                g.name: None if g.auto_score is None else g.auto_score + (g.extra_credit or 0.0)
                for g in nb.grades
            }

    def pending(self, lab: str) -> dict[str, list[str]]:
        """student -> the written answers of ``lab`` a TA has still to grade (formgrader)."""
        table: dict[str, list[str]] = {}
        with Gradebook(self.coursedir.db_url, self.coursedir.course_id) as gb:
            for submission in gb.assignment_submissions(lab):
                for nb in submission.notebooks:
                    waiting = [g.name for g in nb.grades if g.needs_manual_grade]
                    if waiting:
                        table.setdefault(submission.student.id, []).extend(waiting)
        return table

    # -- feedback ------------------------------------------------------------------------------
    def feedback(self, lab: str, student: str | None = None) -> None:
        """Feedback HTML (hidden test source removed) for one student or every graded one; the
        feedback folder gets its own MathJax (the pages load it by a relative URL)."""
        # nbgrader's API would force its own template: its converter, with ours (config.py)
        with temp_attrs(self.coursedir, assignment_id=lab, student_id=student or "*"):
            app = GenerateFeedback(coursedir=self.coursedir, parent=self.api)
            app.force = True
            self._check(capture_log(app), f"feedback {lab}")
        mathjax = self.root / "feedback" / MATHJAX
        if not mathjax.is_dir():
            shutil.copytree(Path(jupyter_server_mathjax.__file__).parent / "static", mathjax)

    # -- scores --------------------------------------------------------------------------------
    def tasks(self, lab: str) -> list[tuple[str, float]]:
        """Graded tasks of a lab in notebook order, with their points (a bonus task's worth,
        though nbgrader's maximum leaves it out: ``dlcourse.tasks.bonus``)."""
        cells = nbformat.read(self.release_notebook(lab), as_version=4).cells
        meta = [c.metadata.nbgrader for c in cells if c.metadata.get("nbgrader", {}).get("grade")]
        extra = tasks.bonus(lab)
        return [
            (
                m["grade_id"],
                float(tasks.points(lab)[m["grade_id"]] if m["grade_id"] in extra else m["points"]),
            )
            for m in meta
        ]

    def scores(self, lab: str, student: str | None = None) -> dict[str, dict[str, float]]:
        """student -> task -> score, for every student with a submission of ``lab`` (or one)."""
        table = {}
        with Gradebook(self.coursedir.db_url, self.coursedir.course_id) as gb:
            ids = [student] if student else sorted(s.id for s in gb.students)
            for sid in ids:
                try:
                    nb = gb.find_submission_notebook(lab, lab, sid)
                except MissingEntry:
                    continue
                table[sid] = {g.name: float(g.score or 0.0) for g in nb.grades}
        return table

    def save_notes(self, outcomes: list[Outcome]) -> None:
        """Keep each submission's notes next to the gradebook (notes.json)."""
        path = self.root / "notes.json"
        notes = json.loads(path.read_text()) if path.exists() else {}
        for o in outcomes:
            notes.setdefault(o.student, {})[o.lab] = o.notes
        path.write_text(json.dumps(notes, indent=1, sort_keys=True))

    def _check(self, result: dict, what: str) -> None:
        """Raise a one-line GradingError if nbgrader failed; its whole log goes to a file the
        message names (``<course>/logs/``), not to the instructor's terminal."""
        if result["success"]:
            return
        log = self.root / "logs" / f"{time.strftime('%Y%m%d-%H%M%S')}-{what.replace(' ', '-')}.log"
        log.parent.mkdir(exist_ok=True)
        log.write_text(f"{result.get('error') or ''}\n{result.get('log') or ''}")
        raise GradingError(f"nbgrader failed to {what}: {_last_line(result)} (its log: {log})")


def _submission(gb: Gradebook, student: str, lab: str) -> None:
    """The student and their submission of ``lab`` in the gradebook. nbgrader's
    ``add_submission`` builds the submission's cells from objects already in the session, which
    makes SQLAlchemy's autoflush warn (SAWarning) unless autoflush waits, as it advises."""
    gb.update_or_create_student(student)
    with gb.db.no_autoflush:
        gb.update_or_create_submission(lab, student)


def _record_answer(
    gb: Gradebook, grade: Any, score: float | None, submission: tuple[str, str], changed: bool
) -> None:
    """A written answer's automatic part: None (answered: a TA grades it) or 0 (left as handed
    out, "No response."); the TA's manual score, extra credit and comment stay, to review if the
    answer ``changed`` since the TA graded it."""
    student, lab = submission
    grade.auto_score = None if score is None else float(score)
    graded = grade.manual_score is not None
    grade.needs_manual_grade = (grade.auto_score is None and not graded) or (graded and changed)
    comment = gb.find_comment(grade.name, lab, lab, student)
    comment.auto_comment = "No response." if grade.auto_score == 0 else None


def _last_line(result: dict) -> str:
    text = (result.get("error") or result.get("log") or "unknown error").strip()
    return text.splitlines()[-1]
