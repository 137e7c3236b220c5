"""Written answers, graded by hand: autograde leaves them to a TA, nbgrader's formgrader takes the
TA's score and comment on this suite's gradebook, and a regrade, the CSV and the feedback keep
them (the toy lab with one question, ``q_explain``, 3 points)."""

from __future__ import annotations

import csv
import json
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from html import unescape
from pathlib import Path

import nbformat
import pytest
from nbgrader.api import Gradebook

from autograder import grading
from autograder.course import Course
from autograder.gradesheet import gradesheet
from autograder.grading import grade_folder
from tests.conftest import solved_toy, toy_notebook, write_submission

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[1]
QUESTION = "Why does `double` need no loop?"
ANSWER = "Because `2 * x` works elementwise on arrays."
COMMENT = "Right; say also why that is faster."


def _answer_cells() -> list[nbformat.NotebookNode]:
    """The question (a plain cell) and its answer cell, as the labs' solution notebooks have."""
    answer = nbformat.v4.new_markdown_cell("Model answer: broadcasting.", id="q-explain-answer")
    answer.metadata.nbgrader = {
        "grade": True,
        "solution": True,
        "locked": False,
        "grade_id": "q_explain",
        "points": 3,
        "schema_version": 3,
    }
    return [nbformat.v4.new_markdown_cell(QUESTION, id="q-explain-question"), answer]


def _answered(nb: nbformat.NotebookNode, text: str) -> nbformat.NotebookNode:
    next(c for c in nb.cells if c.id == "q-explain-answer").source = text
    return nb


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> Course:
    """A course with the toy lab and its question; ana answers it, ben leaves it as handed out,
    both graded."""
    root = tmp_path_factory.mktemp("manual")
    nb = toy_notebook()
    nb.cells += _answer_cells()
    (root / "solutions" / "toy").mkdir(parents=True)
    nbformat.write(nb, root / "solutions" / "toy" / "toy.ipynb")
    course = Course(root / "course", solutions=root / "solutions", cell_timeout=5)
    course.assign("toy")
    write_submission(root / "in", "ana", "toy", _answered(solved_toy(course), ANSWER))
    write_submission(root / "in", "ben", "toy", solved_toy(course))
    grade_folder(course, root / "in", ["toy"])
    return course


def test_a_released_answer_cell_asks_without_answering(course):
    cells = nbformat.read(course.release_notebook("toy"), as_version=4).cells
    assert QUESTION in [c.source for c in cells]
    assert next(c for c in cells if c.id == "q-explain-answer").source == "YOUR ANSWER HERE"
    assert "broadcasting" not in course.release_notebook("toy").read_text()


def test_autograde_leaves_an_answer_to_a_ta_and_says_so(course):
    sheet = gradesheet(course, ["toy"])
    assert course.written("toy") == ["q_explain"] and sheet.written == {"toy:q_explain"}
    assert sheet.pending == {"ana": ["toy:q_explain"]}  # ben's "No response." scores 0 now
    assert sheet.status("ana") == "1 answer to grade by hand (formgrader): toy"
    assert sheet.status("ben") == "" and sheet.total("ben") == 4
    assert sheet.max == 7 and sheet.total("ana") == 4
    table = sheet.table()
    assert "by hand" in table.splitlines()[0] and "1 (3 pts)" in table
    assert "by hand: 1 answer (3 points) waiting for a TA, not yet in the totals" in table
    with Gradebook(course.coursedir.db_url, course.coursedir.course_id) as gb:
        assert gb.find_comment("q_explain", "toy", "toy", "ben").auto_comment == "No response."
    course.feedback("toy", "ana")  # made before a TA graded: it says so, not a bare 0
    text = _text(course.feedback_file("ana", "toy"))
    assert "q_explain (written answer) (not graded yet, out of 3.0: a TA grades it)" in text
    assert f"{ANSWER.replace('`', '')} Comments: Not graded yet: a TA grades this answer" in text


def _text(html: Path) -> str:
    """A feedback page's text, tags removed, whitespace collapsed."""
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html.read_text())).split())


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Formgrader:
    """``python -m autograder formgrader`` in a subprocess, and its REST API as its pages call
    it (``/formgrader/api/...``, token in the header); ``log`` records each request."""

    def __init__(self, course: Course, token: str = "test-token") -> None:
        self.port, self.token, self.log = _free_port(), token, []
        command = [sys.executable, "-m", "autograder", "formgrader", "--course-dir"]
        self.process = subprocess.Popen(
            [*command, str(course.root), "--port", str(self.port), "--token", token],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def wait(self, seconds: float = 40) -> None:
        """Until the server answers; skip the test where no Jupyter server can start."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.skip(f"the Jupyter server did not start: {self.process.stdout.read()}")
            try:
                self.call("GET", "/formgrader/api/status")
                return
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.3)
        self.stop()
        pytest.skip(f"the Jupyter server did not answer within {seconds} s")

    def call(self, method: str, path: str, body: dict | None = None) -> object:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}",
            data=None if body is None else json.dumps(body).encode(),
            method=method,
            headers={"Authorization": f"token {self.token}"},
        )
        with urllib.request.urlopen(request, timeout=20) as response:
            answer = json.loads(response.read())
        self.log.append(f"{method} {path} {json.dumps(body) if body else ''}-> {answer}")
        return answer

    def stop(self) -> str:
        self.process.terminate()
        try:
            return self.process.communicate(timeout=20)[0]
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.communicate()[0]


@pytest.fixture(scope="module")
def ta_graded(course) -> Formgrader:
    """A TA's session in formgrader: find ana's answer, give it 2.5 of 3 and a comment."""
    server = Formgrader(course)
    server.wait()
    try:
        assignments = server.call("GET", "/formgrader/api/assignments")
        assert [(a["name"], a["num_submissions"]) for a in assignments] == [("toy", 2)]
        submissions = server.call("GET", "/formgrader/api/submitted_notebooks/toy/toy")
        ana = next(s for s in submissions if s["student"] == "ana")
        assert ana["needs_manual_grade"] and ana["score"] == 4 and ana["max_score"] == 7
        grades = server.call("GET", f"/formgrader/api/grades?submission_id={ana['id']}")
        grade = next(g for g in grades if g["name"] == "q_explain")
        assert (grade["auto_score"], grade["manual_score"], grade["needs_manual_grade"]) == (
            None,
            None,
            True,
        )
        server.call("PUT", f"/formgrader/api/grade/{grade['id']}", {"manual_score": 2.5})
        comments = server.call("GET", f"/formgrader/api/comments?submission_id={ana['id']}")
        comment = next(c for c in comments if c["name"] == "q_explain")
        server.call("PUT", f"/formgrader/api/comment/{comment['id']}", {"manual_comment": COMMENT})
        after = server.call("GET", "/formgrader/api/submitted_notebooks/toy/toy")
        assert next(s for s in after if s["student"] == "ana")["score"] == 6.5
    finally:
        server.stop()
    print("\n".join(server.log))
    return server


def _manual(course: Course, student: str) -> tuple[object, ...]:
    with Gradebook(course.coursedir.db_url, course.coursedir.course_id) as gb:
        grade = gb.find_grade("q_explain", "toy", "toy", student)
        comment = gb.find_comment("q_explain", "toy", "toy", student)
        return grade.manual_score, grade.needs_manual_grade, comment.manual_comment


def test_formgrader_takes_a_tas_score_and_comment(course, ta_graded):
    assert _manual(course, "ana") == (2.5, False, COMMENT)
    sheet = gradesheet(course, ["toy"])
    assert sheet.pending == {} and sheet.total("ana") == 6.5 and sheet.status("ana") == ""


def test_a_forced_regrade_keeps_the_tas_grades(course, ta_graded, tmp_path):
    """`autograde --force` (as the command runs it: assign, then grade) on ana's submission."""
    submission = course.root.parent / "in" / "ana" / "toy" / "toy.ipynb"
    write_submission(tmp_path, "ana", "toy", submission.read_text())
    grade_folder(course, tmp_path, ["toy"], force=True, assign=True)
    assert _manual(course, "ana") == (2.5, False, COMMENT)
    assert gradesheet(course, ["toy"]).total("ana") == 6.5


def test_export_and_feedback_show_the_manual_grade(course, ta_graded, tmp_path):
    gradesheet(course, ["toy"]).write_csv(tmp_path / "grades.csv")
    rows = {r["student_id"]: r for r in csv.DictReader((tmp_path / "grades.csv").open())}
    assert rows["ana"]["toy:q_explain (written)"] == "2.5" and rows["ana"]["total"] == "6.5"
    assert rows["ben"]["toy:q_explain (written)"] == "0"
    course.feedback("toy", "ana")
    text = _text(course.feedback_file("ana", "toy"))
    assert (
        "toy (Score: 6.5 / 7.0)" in text and "q_explain (written answer) (Score: 2.5 / 3.0)" in text
    )
    assert f"{QUESTION.replace('`', '')} Student's answer Score: 2.5 / 3.0" in text
    assert f"{ANSWER.replace('`', '')} Comments: {COMMENT}" in text


def test_a_changed_answer_keeps_its_grade_for_a_ta_to_review(course, ta_graded):
    """A new submission whose answer differs from the one the TA graded: the grade stays (and
    counts) but the answer waits for a TA again; the scores are recorded as a regrade would."""
    graded = course.autograded_notebook("ana", "toy")
    _answered(graded, ANSWER + " And it is vectorised.")
    job = grading.Job("ana", "toy", b"{}", (), (), ())
    result = grading.Result("ana", "toy", course.autograded_scores("toy", "ana"), b"")
    result.autograded = nbformat.writes(graded).encode()
    grading.record(course, job, result)
    assert _manual(course, "ana") == (2.5, True, COMMENT)
    sheet = gradesheet(course, ["toy"])
    assert sheet.total("ana") == 6.5 and sheet.pending == {"ana": ["toy:q_explain"]}


def test_formgrader_without_a_graded_course_is_one_line(tmp_path, capsys):
    from autograder.cli import main

    assert main(["formgrader", "--course-dir", str(tmp_path / "none")]) == 2
    assert main(["formgrader", "--course-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("error: no course folder") and len(err) == 2
    assert (
        err[1]
        == f"error: no gradebook in {tmp_path}: run `autograde` first, with this --course-dir"
    )
