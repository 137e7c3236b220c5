"""Same grades whatever the load: a cell that runs out of time because the machine is overloaded
is graded again (or reported), never scored 0; a cell that is merely slow scores 0 and says why."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

import pytest

from autograder import cli, grading, load
from autograder.course import Course, Outcome
from autograder.submissions import collect
from tests.conftest import solved_toy, write_submission

pytestmark = pytest.mark.slow

SLEEPY_DOUBLE = "import time\ntime.sleep(60)  # past any limit\ndef double(x):\n    return 2 * x"
SLOWISH_DOUBLE = (
    "import time\ntime.sleep(4)  # past 3 s, within 3 s of time it could run\n"
    "def double(x):\n    return 2 * x"
)
STUBBORN_DOUBLE = """import time
end = time.monotonic() + 30
while time.monotonic() < end:  # swallows the grader's interrupt
    try:
        time.sleep(0.1)
    except KeyboardInterrupt:
        pass
def double(x):
    return 2 * x"""
SLEEPY_SQUARE = "def square(x):\n    import time\n    time.sleep(60)\n    return x * x"


@pytest.fixture(scope="module")
def course(toy_course, tmp_path_factory) -> Course:
    """The toy lab with a 3 s limit per cell."""
    root = tmp_path_factory.mktemp("load")
    course = Course(
        root / "course",
        solutions=toy_course.solutions,
        **{**toy_course.settings, "cell_timeout": 3},
    )
    course.assign("toy")
    return course


def _jobs(course: Course, tmp_path, **cells: str) -> list[grading.Job]:
    """One job: the solved toy lab with the given solution cells (``double``, ``square``)."""
    nb = solved_toy(course)
    for name, source in cells.items():
        nb.cells[{"double": 1, "square": 3}[name]].source = source
    write_submission(tmp_path / "class", "ana", "toy", nb)
    return grading.make_jobs(course, collect(tmp_path / "class", ["toy"], tmp_path / "incoming"))


def _counting(monkeypatch, loads: tuple[tuple[float, float], ...] = ()) -> list[grading.Result]:
    """Record each ``grade_job`` result; for grading i, ``loads[i]`` (if given) is the share of
    the time the grading waits for a CPU (a fake of the scheduler's statistics) and the stretch
    of the time limit (``load.STRETCH``)."""
    real, results = grading.grade_job, []

    def grade_job(job: grading.Job) -> grading.Result:
        with monkeypatch.context() as patch:
            if len(results) < len(loads):
                share, stretch = loads[len(results)]
                patch.setattr(load, "usage", lambda pids: load.Usage(0.0, share * time.monotonic()))
                patch.setattr(load, "STRETCH", stretch)
            results.append(real(job))
        return results[-1]

    monkeypatch.setattr(grading, "grade_job", grade_job)
    return results


def test_a_slow_cell_and_a_slow_call_score_0_say_why_and_are_not_graded_again(
    course, tmp_path, monkeypatch
):
    results = _counting(monkeypatch)
    jobs = _jobs(course, tmp_path, double=SLEEPY_DOUBLE, square=SLEEPY_SQUARE)
    [outcome] = grading.run(course, jobs)
    assert len(results) == 1 and outcome.infrastructure is None
    assert course.scores("toy")["ana"] == {"double": 0.0, "square": 0.0}
    assert "cell 2 ran past the 3 s limit per cell and was interrupted" in outcome.notes
    assert any("called by the test in cell 5 ran past the 3 s limit" in n for n in outcome.notes)
    assert grading.already_graded(course, jobs[0])  # a grade: the next run skips it


def test_a_kernel_that_ignores_the_interrupt_stops_the_notebook(course, tmp_path):
    [outcome] = grading.run(course, _jobs(course, tmp_path, double=STUBBORN_DOUBLE))
    assert course.scores("toy")["ana"] == {"double": 0.0, "square": 0.0}
    assert any(
        n.startswith("the kernel kept running cell 2")
        and n.endswith("later cells were not run and their tests score 0")
        for n in outcome.notes
    ), outcome.notes


def test_a_loaded_machine_is_no_grade_then_grades_as_an_idle_one(
    course, tmp_path, monkeypatch, capsys
):
    """Waiting for a CPU all the time: no grade, graded again. Half the time: a cell that sleeps
    4 s, past the 3 s limit, is owed the time the load took and gets an idle machine's grade."""
    results = _counting(monkeypatch, loads=((1.0, 1.2), (0.5, 3)))
    jobs = _jobs(course, tmp_path, double=SLOWISH_DOUBLE)
    [outcome] = grading.run(course, jobs)
    first, second = results
    assert first.infrastructure.startswith("the grading machine was overloaded: cell 2 ran ")
    assert "1.2x the 3 s limit per cell" in first.infrastructure
    assert "1 submission(s) ran out of time on an overloaded machine" in capsys.readouterr().out
    assert second.infrastructure is None and outcome.infrastructure is None
    assert outcome.notes == [] and course.scores("toy")["ana"] == {"double": 2.0, "square": 2.0}
    assert grading.already_graded(course, jobs[0])


def test_still_overloaded_when_alone_is_reported_and_left_for_the_next_run(
    course, tmp_path, monkeypatch, capsys
):
    jobs = _jobs(course, tmp_path)
    why = "the grading machine was overloaded: cell 2 ran past the 3 s limit per cell"
    calls = []
    monkeypatch.setattr(
        grading,
        "grade_job",
        lambda job: calls.append(job)
        or grading.Result(job.student, job.lab, {"double": 0.0}, None, [], infrastructure=why),
    )
    [outcome] = grading.run(course, jobs)
    assert len(calls) == 2 and outcome.infrastructure == why  # graded again once, alone
    assert "1 submission(s) ran out of time on an overloaded machine" in capsys.readouterr().out
    assert not grading.already_graded(course, jobs[0])  # the next run grades it
    assert grading.run(course, jobs) and len(calls) == 4
    capsys.readouterr()

    monkeypatch.setattr(cli.grading, "grade_folder", lambda *args, **kwargs: [outcome])
    monkeypatch.setattr(cli, "print_results", lambda *args: None)
    args = argparse.Namespace(
        submissions=str(tmp_path),
        labs=["toy"],
        jobs=1,
        scheduler=None,
        force=False,
        id_pattern=None,
        roster=None,
    )
    assert cli.cmd_autograde(course, args) == 1
    [line] = capsys.readouterr().err.splitlines()
    assert "1 submission(s) not graded" in line and "ana/toy" in line
    assert "run autograde again" in line


def test_an_ordinary_outcome_is_no_failure():
    assert grading.overloaded_message([Outcome("ana", "toy", ["a note"])]) is None


def test_a_cell_is_owed_only_the_time_other_load_took():
    assert load.owed(load.Usage(ran=1.0, waited=1.0), wall=2.0, cores=2) == 1.0  # half the time
    assert load.owed(load.Usage(ran=2.0, waited=0.1), wall=2.0, cores=2) == 0.1  # unhindered
    assert load.owed(load.Usage(ran=0.0, waited=0.0), wall=2.0, cores=2) == 0.0  # asleep
    assert load.owed(load.Usage(ran=1.0, waited=5.0), wall=2.0, cores=2) == 2.0  # threads: <= wall
    # eight busy threads of its own on two cores: it waits for itself
    assert load.owed(load.Usage(ran=4.0, waited=12.0), wall=2.0, cores=2) == 0.0
    assert load.starved(load.Usage(ran=1.0, waited=1.0), wall=2.0, cores=2)
    assert not load.starved(load.Usage(ran=2.0, waited=0.1), wall=2.0, cores=2)


def test_the_schedulers_statistics_count_a_process_tree():
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(5)"])
    try:
        assert child.pid in load.descendants(os.getpid())
        assert os.getpid() not in load.descendants(child.pid)
    finally:
        child.kill()
        child.wait()
    busy = load.usage([os.getpid()])
    sum(range(3_000_000))
    assert (load.usage([os.getpid()]) - busy).ran > 0
    assert load.usage([2**22 + 1]) == load.Usage()  # no such process: nothing


def test_grading_uses_the_same_threads_whatever_the_jobs(monkeypatch):
    """Sums over other numbers of threads round differently: 1 and N jobs must not differ."""
    import torch

    monkeypatch.setenv("OMP_NUM_THREADS", "7")
    threads = torch.get_num_threads()
    with grading._same_threads():
        assert os.environ["OMP_NUM_THREADS"] == str(grading.THREADS)  # the kernels' environment
        assert torch.get_num_threads() == grading.THREADS
    assert os.environ["OMP_NUM_THREADS"] == "7" and torch.get_num_threads() == threads
