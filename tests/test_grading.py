"""Grading a class: serial, parallel and distributed runs give the same grades; runs resume."""

from __future__ import annotations

import copy

import pytest

from autograder import grading
from autograder.course import Course
from autograder.submissions import collect
from tests.conftest import solved_toy, write_submission

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def klass(toy_course, tmp_path_factory):
    """Three students of the toy lab: right, half right, broken."""
    folder = tmp_path_factory.mktemp("class")
    solved = solved_toy(toy_course)
    half = copy.deepcopy(solved)
    half.cells[3].source = "def square(x):\n    return 0"
    for student, nb in {"ana": solved, "ben": half, "dee": '{"cells": ['}.items():
        write_submission(folder, student, "toy", nb)
    return folder


def _grade(course: Course, folder, **how) -> dict:
    jobs = grading.make_jobs(course, collect(folder, ["toy"], course.root / "incoming"))
    grading.run(course, jobs, **how)
    return course.scores("toy")


def _course(tmp_path, toy_course: Course) -> Course:
    course = Course(tmp_path / "course", solutions=toy_course.solutions, **toy_course.settings)
    course.assign("toy")
    return course


EXPECTED = {
    "ana": {"double": 2.0, "square": 2.0},
    "ben": {"double": 2.0, "square": 0.0},
    "dee": {"double": 0.0, "square": 0.0},
}


def test_serial_and_parallel_grading_agree(klass, toy_course, tmp_path):
    assert _grade(_course(tmp_path / "serial", toy_course), klass, workers=1) == EXPECTED
    assert _grade(_course(tmp_path / "parallel", toy_course), klass, workers=2) == EXPECTED


def test_grading_on_a_dask_cluster_agrees(klass, toy_course, tmp_path):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
    ) as cluster:
        scores = _grade(_course(tmp_path, toy_course), klass, scheduler=cluster.scheduler_address)
    assert scores == EXPECTED


def test_an_interrupted_run_resumes_without_regrading(klass, toy_course, tmp_path, capsys):
    course = _course(tmp_path, toy_course)
    jobs = grading.make_jobs(course, collect(klass, ["toy"], course.root / "incoming"))
    grading.run(course, jobs[:2])  # "interrupted" after two students
    first = {p: p.stat().st_mtime_ns for p in (course.root / "autograded").rglob("*.ipynb")}
    outcomes = grading.run(course, jobs)
    assert [o.student for o in outcomes] == ["dee"]  # only the rest graded
    assert "2 submission(s) already graded" in capsys.readouterr().out
    assert all(p.stat().st_mtime_ns == t for p, t in first.items())  # finished ones untouched
    assert course.scores("toy") == EXPECTED  # nothing lost, nothing duplicated


def test_a_changed_submission_is_graded_again(klass, toy_course, tmp_path):
    course = _course(tmp_path, toy_course)
    jobs = grading.make_jobs(course, collect(klass, ["toy"], course.root / "incoming"))
    grading.run(course, jobs[:1])
    assert course.scores("toy")["ana"] == EXPECTED["ana"]
    resubmitted = [
        grading.Job(**{**vars(jobs[0]), "notebook": jobs[1].notebook})
    ]  # ana hands in ben's
    assert [o.student for o in grading.run(course, resubmitted)] == ["ana"]
    assert course.scores("toy")["ana"] == EXPECTED["ben"]


def test_a_grader_failure_is_reported_and_retried(toy_course, tmp_path):
    course = _course(tmp_path, toy_course)
    job = grading.Job("eve", "nolab", b"{}", (), (), tuple(sorted(course.settings.items())))
    result = grading.grade_job(job)
    assert result.error and "the grader failed" in result.error
    assert not grading.already_graded(course, job)


def test_the_gradebook_can_be_any_database_url(toy_course, tmp_path):
    url = f"sqlite:///{tmp_path / 'elsewhere.db'}"
    course = Course(tmp_path / "course", solutions=toy_course.solutions, db_url=url)
    course.assign("toy")
    course.record_scores("zoe", "toy", {"double": 2.0})
    assert (tmp_path / "elsewhere.db").is_file() and not (
        tmp_path / "course" / "gradebook.db"
    ).exists()
    assert course.scores("toy")["zoe"] == {"double": 2.0, "square": 0.0}


def test_a_worker_keeps_no_students_files_between_jobs(klass, toy_course, tmp_path):
    course = _course(tmp_path, toy_course)
    jobs = grading.make_jobs(course, collect(klass, ["toy"], course.root / "incoming"))
    results = [grading.grade_job(job) for job in jobs]
    assert [r.scores for r in results] == [EXPECTED[j.student] for j in jobs]
    scratch = grading._scratch_course(jobs[0])  # the worker's (here: this process's) course
    assert [
        p for kind in ("submitted", "autograded") for p in (scratch.root / kind).glob("*/*")
    ] == []
