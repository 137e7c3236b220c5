"""The tampering corpus: hostile solutions of the toy lab's `square`, each with its due score.

Test cells run in the grader's process against proxies of the student's code, and the student's
kernel is sandboxed, so these tricks can't work by design; this checks that they don't.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from autograder.gradesheet import gradesheet
from autograder.grading import grade_folder
from tests.conftest import solved_toy, write_submission

pytestmark = pytest.mark.slow

CORPUS = Path(__file__).parent / "corpus" / "tampering"
TRICKS = sorted(p.stem for p in CORPUS.glob("*.py"))


def expected_score(trick: str) -> float:
    """The '# expected: N -- why' header of a trick's file."""
    header = (CORPUS / f"{trick}.py").read_text().splitlines()[0]
    return float(re.fullmatch(r"# expected: ([\d.]+) -- .*", header).group(1))


@pytest.fixture(scope="module")
def graded(toy_course, tmp_path_factory):
    """Every trick as one student's `square` cell, plus an honest student graded in the same run."""
    folder = tmp_path_factory.mktemp("tampering")
    for trick in TRICKS:
        nb = solved_toy(toy_course)
        nb.cells[3].source = (CORPUS / f"{trick}.py").read_text()
        write_submission(folder, trick, "toy", nb)
    write_submission(folder, "honest", "toy", solved_toy(toy_course))
    grade_folder(toy_course, folder, ["toy"], workers=1, force=True)  # one process: shared folders
    return gradesheet(toy_course, ["toy"]).rows


def test_the_corpus_has_the_tricks_the_course_must_resist():
    assert len(TRICKS) >= 10


@pytest.mark.parametrize("trick", TRICKS)
def test_a_trick_gains_nothing(graded, trick):
    assert graded[trick]["toy:square"] == expected_score(trick)


def test_tricks_cost_no_other_student_anything(graded, toy_course):
    assert graded["honest"]["toy:square"] == 2 and graded["honest"]["toy:double"] == 2
    honest = toy_course.root / "autograded" / "honest" / "toy" / "toy.ipynb"
    nbformat.read(honest, as_version=4)  # still a notebook: not overwritten by writes_gradebook


def test_a_broken_rule_is_explained_in_the_feedback(graded, toy_course):
    """The grader's check of the source says what was refused and why, in the test cell."""
    path = toy_course.root / "autograded" / "forward_mode_ad" / "toy" / "toy.ipynb"
    outputs = str([c.get("outputs") for c in nbformat.read(path, as_version=4).cells])
    assert "square uses torch.func.jvp: derive the gradient by hand" in outputs
