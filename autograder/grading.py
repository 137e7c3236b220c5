"""Grading a class: one job per submission, run serially, on N local processes or on Dask.

Every way of running goes through the same pure function, ``grade_job``: a job carries the
submission and the lab's source (bytes), a worker grades it in a private scratch course and
returns data (scores per task, the autograded notebook, notes). Only the coordinating process
writes the course's gradebook, one submission per transaction, so workers never contend for the
database and a grading run can be spread over processes or machines and still give the grades
serial grading gives.

A run can be interrupted and started again: a submission whose notebook bytes were already
graded (``autograded/<student>/<lab>/.graded`` holds their hash, written after the gradebook
commit) is skipped, so nothing is graded twice and no grade is lost or duplicated.
"""
from __future__ import annotations

import atexit
import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path

from tqdm import tqdm

from . import nofollow
from .course import Course, GradingError, Outcome
from .submissions import Submission

MARKER = ".graded"


@dataclass(frozen=True)
class Job:
    """Everything needed to grade one submission anywhere: bytes and settings, no paths."""

    student: str
    lab: str
    notebook: bytes | None
    notes: tuple[str, ...]
    source: tuple[tuple[str, bytes], ...]  # the lab's solutions folder: (relative path, bytes)
    settings: tuple[tuple[str, int | None], ...]  # Course keyword arguments (timeouts, memory)

    @property
    def digest(self) -> str:
        """Hash of what is graded: the notebook and the lab's source (a new version regrades)."""
        h = hashlib.sha256(self.notebook or b"")
        for path, data in self.source:
            h.update(path.encode() + data)
        return h.hexdigest()


@dataclass
class Result:
    """What grading one job produced; ``error`` is set when the grader itself failed."""

    student: str
    lab: str
    scores: dict[str, float]
    autograded: bytes | None
    notes: list[str] = field(default_factory=list)
    error: str | None = None


def make_jobs(course: Course, found: Iterable[Submission]) -> list[Job]:
    """Jobs for collected submissions (the labs must be assigned in ``course``)."""
    settings = tuple(sorted(course.settings.items()))
    sources = {}
    jobs = []
    for sub in found:
        if sub.lab not in sources:
            folder = course.solutions / sub.lab
            sources[sub.lab] = tuple((str(p.relative_to(folder)), p.read_bytes())
                                     for p in sorted(folder.rglob("*")) if p.is_file()
                                     and "__pycache__" not in p.parts)
        notebook = sub.notebook.read_bytes() if sub.notebook else None
        jobs.append(Job(sub.student, sub.lab, notebook, tuple(sub.notes), sources[sub.lab], settings))
    return jobs


# ------------------------------------------------------------------------ the worker side

_scratch: dict[tuple[str, str], Course] = {}


def grade_job(job: Job) -> Result:
    """Grade one job in a private scratch course of this process (made once per lab version)."""
    try:
        course = _scratch_course(job)
        try:
            with tempfile.TemporaryDirectory(prefix="submission-") as folder:
                notebook = None
                if job.notebook is not None:
                    notebook = Path(folder) / f"{job.lab}.ipynb"
                    notebook.write_bytes(job.notebook)
                outcome = course.autograde(job.student, job.lab, notebook, list(job.notes))
            return Result(job.student, job.lab, course.scores(job.lab, job.student).get(job.student, {}),
                          _read(course, f"autograded/{job.student}/{job.lab}/{job.lab}.ipynb"),
                          outcome.notes)
        finally:  # the result is data now: a class's notebooks and files must not pile up here
            for kind in ("submitted", "autograded"):
                nofollow.remove(course.root, f"{kind}/{job.student}")
    except Exception as exc:  # the grader failed (not the student): keep the run going, say why
        return Result(job.student, job.lab, {}, None, list(job.notes),
                      error=f"the grader failed on this submission: {type(exc).__name__}: {exc}")


def _read(course: Course, relative: str) -> bytes | None:
    """A file of the course folder (None if missing), read without following links."""
    try:
        return nofollow.read_bytes(course.root, relative)
    except FileNotFoundError:
        return None


def _scratch_course(job: Job) -> Course:
    key = (job.lab, hashlib.sha256(repr(job.source).encode()).hexdigest())
    if key not in _scratch:
        root = Path(tempfile.mkdtemp(prefix=f"dlcourse-{job.lab}-"))
        atexit.register(shutil.rmtree, root, ignore_errors=True)
        for path, data in job.source:
            target = root / "solutions" / job.lab / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        course = Course(root / "course", solutions=root / "solutions", **dict(job.settings))
        course.assign(job.lab)
        _scratch[key] = course
    return _scratch[key]


# ------------------------------------------------------------------------ the coordinator side

def run(course: Course, jobs: list[Job], *, workers: int = 1, scheduler: str | None = None,
        force: bool = False) -> list[Outcome]:
    """Grade ``jobs`` (skipping those already graded unless ``force``), record each result in
    ``course`` as it arrives; returns the outcomes of the jobs graded now."""
    todo = [job for job in jobs if force or not course_has(course, job)]
    skipped = len(jobs) - len(todo)
    if skipped:
        print(f"{skipped} submission(s) already graded, skipped (--force regrades them)")
    outcomes = []
    if todo:
        course.check_sandbox()
    results = _results(todo, workers, scheduler)  # connects to a scheduler before the bar
    with tqdm(total=len(todo), desc="grading", unit="submission") as bar:
        for job, result in results:
            outcomes.append(record(course, job, result))
            bar.set_postfix_str(f"{job.student}/{job.lab}", refresh=False)
            bar.update()
    course.save_notes(outcomes)
    return outcomes


def _results(jobs: list[Job], workers: int, scheduler: str | None) -> Iterator[tuple[Job, Result]]:
    """(job, result) as they complete: on a Dask cluster, on ``workers`` processes or here."""
    if scheduler:
        from distributed import Client

        client = _connect(Client, scheduler)
        try:
            _one_thread_each(client)
        except GradingError:
            client.close()
            raise
        return _on_dask(client, jobs)
    return _in_processes(jobs, workers) if workers > 1 else ((job, grade_job(job)) for job in jobs)


def _on_dask(client, jobs: list[Job]) -> Iterator[tuple[Job, Result]]:
    from distributed import as_completed as dask_completed

    with client:
        futures = {client.submit(grade_job, job, pure=False): job for job in jobs}
        for future in dask_completed(futures):
            yield futures[future], future.result()


def _in_processes(jobs: list[Job], workers: int) -> Iterator[tuple[Job, Result]]:
    # spawn: a worker must not inherit the coordinator's open database or kernel sockets
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn"), initializer=_share_cores,
                             initargs=(workers,)) as pool:
        futures = {pool.submit(grade_job, job): job for job in jobs}
        for future in as_completed(futures):
            yield futures[future], _result(futures[future], future)


def _connect(client_class: type, scheduler: str, timeout: str = "10s"):
    """A Dask client of ``scheduler``, or one line saying that none answers there."""
    try:
        return client_class(scheduler, timeout=timeout)
    except (OSError, TimeoutError) as exc:
        raise GradingError(f"no Dask scheduler answers at {scheduler} within {timeout} "
                           f"({type(exc).__name__}); start one (dask scheduler) or check the "
                           "address") from None


def _one_thread_each(client) -> None:
    """Refuse Dask workers with several threads: nbgrader sets the environment of the whole
    process while it grades a submission, and a worker keeps one scratch course per lab."""
    threads = sorted({w["nthreads"] for w in client.scheduler_info()["workers"].values()})
    if threads and threads[-1] > 1:
        raise GradingError(f"Dask workers with {threads[-1]} threads can't grade safely: start "
                           "them with one thread each (dask worker --nthreads 1 --nworkers N)")


def _share_cores(workers: int) -> None:
    """Give each worker's kernels their share of the cores: N kernels each starting a thread per
    core (torch, BLAS) would fight over them and grade slower than fewer jobs."""
    threads = str(max(1, (os.cpu_count() or 1) // workers))
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(name, threads)


def _result(job: Job, future) -> Result:
    try:
        return future.result()
    except Exception as exc:  # the worker process itself died
        return Result(job.student, job.lab, {}, None, list(job.notes),
                      error=f"the grading process died on this submission: {type(exc).__name__}: {exc}")


def record(course: Course, job: Job, result: Result) -> Outcome:
    """Write one result into the course (gradebook, autograded notebook, marker); its Outcome."""
    notes = list(result.notes) + ([result.error] if result.error else [])
    folder = f"autograded/{job.student}/{job.lab}"  # written without following links: nofollow
    nofollow.remove(course.root, folder)
    nofollow.make_folders(course.root, folder)
    if result.autograded is not None:
        nofollow.write_bytes(course.root, f"{folder}/{job.lab}.ipynb", result.autograded)
    if job.notebook is not None:
        nofollow.write_bytes(course.root, f"submitted/{job.student}/{job.lab}/{job.lab}.ipynb",
                             job.notebook)
    course.record_scores(job.student, job.lab, result.scores)
    if result.error is None:  # a grader failure is graded again on the next run
        nofollow.write_bytes(course.root, f"{folder}/{MARKER}", job.digest.encode())
    return Outcome(job.student, job.lab, notes)


def course_has(course: Course, job: Job) -> bool:
    """True if this exact submission of this lab version is already graded in ``course``."""
    marker = _read(course, f"autograded/{job.student}/{job.lab}/{MARKER}")
    return marker == job.digest.encode()


def default_workers() -> int:
    """One worker per core."""
    return os.cpu_count() or 1
