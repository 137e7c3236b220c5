"""nbgrader preprocessors that fix nbgrader's traps for this course.

Each one is small and plugs into a stock nbgrader pipeline (see ``autograder.config``):

- ``TaskStubs``: stubs that name their task, so an untouched cell fails with
  ``NotImplementedError('Lab 0, task binlogreg_loss_grad: ...')`` instead of a bare error.
- ``DropDuplicateIds``: nbgrader's DeduplicateIds without its crash on the dropped copy.
- ``ReportEditedCells``: names the locked cells a student edited (nbgrader restores them).
- ``RestoreCellOrder``: puts graded and solution cells back in the assignment's order, so a
  student who moved a test cell above their solution is graded on their code, not on the move.
- ``StderrToStdout``: nbgrader gives 0 to a test cell with *any* stderr output (a PyTorch
  warning, a tqdm bar); exceptions are ``error`` outputs, so moving stderr text to stdout loses
  no failure and keeps the text visible in feedback.
- ``SaveTaskGrades``: nbgrader's SaveAutoGrades with bonus tasks as extra credit.
- ``GetTaskGrades``: nbgrader's GetGrades (feedback) saying which written answers wait for a TA.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
from nbformat.notebooknode import NotebookNode
from nbgrader import utils
from nbgrader.preprocessors import (
    ClearSolutions,
    DeduplicateIds,
    GetGrades,
    NbGraderPreprocessor,
    SaveAutoGrades,
)
from traitlets import Unicode

from dlcourse import tasks

SOLUTION_SUFFIX = "_code"
"""Grade id of a solution cell = task id + this suffix (the test cell's id is the task id)."""


def lab_title(assignment: str) -> str:
    """'lab0' -> 'Lab 0' (as in the notebooks' headings)."""
    match = re.fullmatch(r"lab(\d+)", assignment)
    return f"Lab {match.group(1)}" if match else assignment


class TaskStubs(ClearSolutions):
    """ClearSolutions whose code stub names the lab and task of the cell it replaces."""

    stub_template = Unicode(
        "# YOUR CODE HERE\nraise NotImplementedError({message!r})",
        help="Python stub; {message} is e.g. 'Lab 0, task eval_AP: write your code here'",
    ).tag(config=True)

    def preprocess_cell(self, cell, resources, index):
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id", "")
        task = grade_id.removesuffix(SOLUTION_SUFFIX) or "?"
        lab = lab_title(resources["nbgrader"]["assignment"])
        message = f"{lab}, task {task}: write your code here"
        self.code_stub = {**self.code_stub, "python": self.stub_template.format(message=message)}
        return super().preprocess_cell(cell, resources, index)


def grade_id(cell: NotebookNode) -> str | None:
    """The nbgrader grade id of a cell, or None for a plain cell."""
    return cell.metadata.get("nbgrader", {}).get("grade_id")


def is_written_answer(cell: NotebookNode) -> bool:
    """A written answer (a question's): a markdown cell nbgrader both clears for students
    ("YOUR ANSWER HERE") and grades, by hand (``autograder.points``)."""
    meta = cell.metadata.get("nbgrader", {})
    return cell.cell_type == "markdown" and bool(meta.get("solution")) and bool(meta.get("grade"))


class DropDuplicateIds(DeduplicateIds):
    """Keep the last cell of each grade id (as nbgrader does); the others become plain cells.

    nbgrader 0.9.6 leaves an empty ``nbgrader`` dict on the dropped copy, which makes
    ``OverwriteCells.add_missing_cells`` crash with KeyError('grade_id'); remove it entirely.
    """

    def preprocess(self, nb, resources):
        nb, resources = super().preprocess(nb, resources)
        for cell in nb.cells:
            if cell.metadata.get("nbgrader") == {}:
                del cell.metadata["nbgrader"]
        return nb, resources


class _ReleaseAware(NbGraderPreprocessor):
    """Base for preprocessors that compare a submission with the notebook students were given."""

    release_directory = Unicode(help="nbgrader's release folder of the course").tag(config=True)

    def release_cells(self, resources) -> list[NotebookNode]:
        info = resources["nbgrader"]
        path = Path(self.release_directory, info["assignment"], info["notebook"] + ".ipynb")
        return nbformat.read(path, as_version=4).cells


class ReportEditedCells(_ReleaseAware):
    """Name the locked cells a student edited (OverwriteCells restores them afterwards).

    nbgrader's own warning can't tell an edit from the hidden tests it puts back into every
    test cell, so the submission is compared with the released cell instead.
    """

    def preprocess(self, nb, resources):
        released = {
            grade_id(c): c.source for c in self.release_cells(resources) if utils.is_locked(c)
        }
        for cell in nb.cells:
            gid = grade_id(cell)
            if gid in released and cell.source != released[gid]:
                self.log.warning("Locked cell '%s' was edited", gid)
        return nb, resources


class RestoreCellOrder(_ReleaseAware):
    """Sort cells with a grade id into the order of the released notebook.

    A plain cell the student added travels with the graded/solution cell above it, so helper
    cells stay next to the code that uses them. Runs after OverwriteCells (which re-adds deleted
    graded cells), before execution.
    """

    def preprocess(self, nb, resources):
        order = [grade_id(c) for c in self.release_cells(resources) if grade_id(c)]
        rank = {gid: i for i, gid in enumerate(order)}
        groups: list[list[NotebookNode]] = [[]]
        for cell in nb.cells:
            if grade_id(cell) in rank:
                groups.append([])
            groups[-1].append(cell)
        head, rest = groups[0], groups[1:]
        ordered = sorted(rest, key=lambda group: rank[grade_id(group[0])])
        if ordered != rest:
            self.log.warning(
                "Cells were reordered; restored the assignment's order of graded cells"
            )
        nb.cells = head + [cell for group in ordered for cell in group]
        return nb, resources


class StderrToStdout(NbGraderPreprocessor):
    """Turn stderr text in graded cells into stdout so that warnings don't zero a test cell."""

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type == "code" and utils.is_grade(cell):
            for output in cell.outputs:
                if output.output_type == "stream" and output.name == "stderr":
                    output.name = "stdout"
        return cell, resources


class SaveTaskGrades(SaveAutoGrades):
    """SaveAutoGrades, with a bonus task's credit saved as nbgrader's extra credit.

    A bonus cell declares 0 points to nbgrader (``autograder.points``), so the lab's maximum
    leaves it out; its test cell's value is the credit earned out of the task's declared worth,
    which is saved as the grade's ``extra_credit`` (nbgrader adds it to the score) with an
    automatic score of 0. Which tasks are bonus comes from the lab's table in the grader, never
    from the submitted notebook.
    """

    def _add_score(self, cell, resources):
        task = grade_id(cell)
        if task not in tasks.bonus(self.assignment_id):
            return super()._add_score(cell, resources)
        grade = self.gradebook.find_grade(
            task, self.notebook_id, self.assignment_id, self.student_id
        )
        meta = cell.metadata.nbgrader
        meta["points"] = tasks.points(self.assignment_id)[task]
        try:
            earned, _ = utils.determine_grade(cell, self.log)
        finally:
            meta["points"] = 0
        grade.auto_score, grade.extra_credit, grade.needs_manual_grade = 0.0, earned, False
        self.gradebook.db.commit()


WAITING = "*Not graded yet: a TA grades this answer by hand; its score here is not final.*"


class GetTaskGrades(GetGrades):
    """GetGrades, with a written answer that waits for a TA told apart from one scored 0:
    feedback made before a TA graded it says so under the answer (as a comment) and marks it
    ``waiting`` for the contents (``autograder/templates/dlcourse_feedback``)."""

    def preprocess_cell(self, cell, resources, index):
        cell, resources = super().preprocess_cell(cell, resources, index)
        if utils.is_grade(cell) and utils.is_solution(cell):
            grade = self.gradebook.find_grade(
                grade_id(cell), self.notebook_id, self.assignment_id, self.student_id
            )
            if grade.needs_manual_grade:
                meta = cell.metadata.nbgrader
                meta["waiting"] = True
                meta["comment"] = "\n\n".join(filter(None, (WAITING, meta.get("comment"))))
        return cell, resources
