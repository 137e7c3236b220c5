"""Written answers in the handout: the questions go out, the model answers never (the release
audit, ``autograder.answers``), and nbgrader's student version asks without answering."""

from __future__ import annotations

import textwrap
from pathlib import Path

import nbformat
import pytest

from autograder import answers
from autograder.course import SOLUTIONS

REPO = Path(__file__).resolve().parents[1]


def _notebooks() -> tuple[nbformat.NotebookNode, nbformat.NotebookNode]:
    """Lab 0's solution and its generated student notebook."""
    return (
        nbformat.read(SOLUTIONS / "lab0" / "lab0.ipynb", as_version=4),
        nbformat.read(REPO / "labs" / "lab0" / "lab0.ipynb", as_version=4),
    )


def _cell(nb: nbformat.NotebookNode, question: str) -> nbformat.NotebookNode:
    return next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == question)


@pytest.fixture(scope="module")
def audit() -> answers.Answers:
    solution, student = _notebooks()
    return answers.Answers.of({"lab0": solution}, [student])


def test_the_student_notebook_asks_every_question_and_answers_none(audit, tmp_path):
    solution, student = _notebooks()
    asked = dict(answers.written_answers(solution))
    assert len(asked) == 5 and {q for q in audit.written.values()} == {
        f"solutions/lab0: {q}" for q in asked
    }
    for question in asked:
        assert _cell(student, question).source == "YOUR ANSWER HERE"
        assert f"### Question · `{question}`" in [c.source.split(" (")[0] for c in student.cells]
    nbformat.write(student, tmp_path / "lab0.ipynb")
    assert answers.scan(tmp_path, audit) == []


def test_the_audit_finds_a_model_answer_anywhere(audit, tmp_path):
    """A model answer pasted in a notes file, reflowed into another notebook's cell, or kept in
    the student notebook's answer cell is found; the question text alone is not."""
    solution, student = _notebooks()
    model = _cell(solution, "q_gmm_failure").source
    (tmp_path / "notes.md").write_text("# notes\n" + model.replace("\n", " "))
    _cell(student, "q_regularisation").source = _cell(solution, "q_regularisation").source
    nbformat.write(student, tmp_path / "lab0.ipynb")
    other = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_markdown_cell(textwrap.fill(model, 60))]
    )
    nbformat.write(other, tmp_path / "extra.ipynb")
    found = answers.scan(tmp_path, audit)
    assert found == [
        "extra.ipynb: holds the model answer of solutions/lab0: q_gmm_failure",
        "lab0.ipynb: holds the model answer of solutions/lab0: q_regularisation",
        "notes.md: holds the model answer of solutions/lab0: q_gmm_failure",
    ]
