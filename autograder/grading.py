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

A submission whose grading ran out of time because the machine was overloaded (not because of
the student's code: ``autograder.execute``, ``autograder.load``) is no grade: it gets no marker
and is graded again at the end of the run, alone. If that fails the same way, the run says so
(``overloaded_message``), and the next run grades only those.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path

import nbformat
from tqdm import tqdm

from . import nofollow
from .course import Course, GradingError, Outcome
from .execute import overloaded
from .preprocessors import grade_id, is_written_answer
from .submissions import Submission, collect

MARKER = ".graded"
THREADS = 1
"""Threads of torch and the BLAS libraries in every kernel and in the grader, whatever the number
of jobs or of cores. A sum split over another number of threads rounds differently (a small
network's loss after 200 SGD steps differs in its 6th digit between 1 and 2 threads), so a
result near a check's tolerance could pass with ``--jobs 1`` (a thread per core, torch's default)
and fail with ``--jobs 2``: the same grades need the same threads. One each also lets N jobs
share N cores without N kernels each starting a thread per core."""
_THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


@dataclass(frozen=True)
class Job:
    """Everything needed to grade one submission anywhere: bytes and settings, no paths."""

    student: str
    lab: str
    notebook: bytes | None
    notes: tuple[str, ...]
    source: tuple[tuple[str, bytes], ...]  # the lab as assigned: (relative path, bytes)
    settings: tuple[tuple[str, int | str | None], ...]  # Course keyword arguments (limits, secret)

    @property
    def grader(self) -> str:
        """Hash of what grades: the lab as assigned (solutions, declared points) and the
        settings (limits, the secret of the hidden cases); a worker's scratch course is one."""
        h = hashlib.sha256(repr(self.settings).encode())
        for path, data in self.source:
            h.update(path.encode() + b"\0" + data)
        return h.hexdigest()

    @property
    def digest(self) -> str:
        """Hash of a grade: this notebook graded by ``grader`` (a new version regrades)."""
        return hashlib.sha256((self.notebook or b"") + self.grader.encode()).hexdigest()


@dataclass
class Result:
    """What grading one job produced; ``error`` is set when the grader itself failed."""

    student: str
    lab: str
    scores: dict[str, float | None]  # None: a written answer, for a TA to grade
    autograded: bytes | None
    notes: list[str] = field(default_factory=list)
    error: str | None = None
    infrastructure: str | None = None  # why this is no grade: the machine was overloaded


def make_jobs(course: Course, found: Iterable[Submission]) -> list[Job]:
    """Jobs for collected submissions (the labs must be assigned in ``course``)."""
    settings = tuple(sorted(course.settings.items()))
    sources = {}
    jobs = []
    for sub in found:
        if sub.lab not in sources:  # as assigned: the solutions with the declared points
            folder = course.source_folder(sub.lab)
            sources[sub.lab] = tuple(
                (str(p.relative_to(folder)), p.read_bytes())
                for p in sorted(folder.rglob("*"))
                if p.is_file() and "__pycache__" not in p.parts
            )
        notebook = sub.notebook.read_bytes() if sub.notebook else None
        jobs.append(
            Job(sub.student, sub.lab, notebook, tuple(sub.notes), sources[sub.lab], settings)
        )
    return jobs


# ------------------------------------------------------------------------ the worker side

_scratch: dict[tuple[str, str], Course] = {}


def grade_job(job: Job) -> Result:
    """Grade one job in a private scratch course of this process (made once per lab version),
    with ``THREADS`` threads, here and in its kernel."""
    with _same_threads():
        return _grade(job)


def _grade(job: Job) -> Result:
    try:
        course = _scratch_course(job)
        try:
            with tempfile.TemporaryDirectory(prefix="submission-") as folder:
                notebook = None
                if job.notebook is not None:
                    notebook = Path(folder) / f"{job.lab}.ipynb"
                    notebook.write_bytes(job.notebook)
                outcome = course.autograde(job.student, job.lab, notebook, list(job.notes))
            autograded = _read(course, course.autograded(job.student, job.lab, f"{job.lab}.ipynb"))
            return Result(
                job.student,
                job.lab,
                course.autograded_scores(job.lab, job.student),
                autograded,
                outcome.notes,
                infrastructure=_overloaded(autograded),
            )
        finally:  # the result is data now: a class's notebooks and files must not pile up here
            for folder in (course.submitted(job.student, ""), course.autograded(job.student, "")):
                nofollow.remove(course.root, folder)
    except Exception as exc:  # the grader failed (not the student): keep the run going, say why
        return Result(
            job.student,
            job.lab,
            {},
            None,
            list(job.notes),
            error=f"the grader failed on this submission: {type(exc).__name__}: {exc}",
        )


@contextlib.contextmanager
def _same_threads() -> Iterator[None]:
    """``THREADS`` for torch here and for the kernels started meanwhile (their environment)."""
    import torch  # the grader's references and checks: imported to grade anyway

    saved = {name: os.environ.get(name) for name in _THREAD_VARIABLES}
    threads = torch.get_num_threads()
    os.environ.update(dict.fromkeys(_THREAD_VARIABLES, str(THREADS)))
    torch.set_num_threads(THREADS)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _overloaded(autograded: bytes | None) -> str | None:
    """Why an autograded notebook is no grade (the machine was overloaded), or None."""
    if autograded is None:
        return None
    return overloaded(nbformat.reads(autograded.decode(), as_version=4))


def _read(course: Course, relative: str) -> bytes | None:
    """A file of the course folder (None if missing), read without following links."""
    try:
        return nofollow.read_bytes(course.root, relative)
    except FileNotFoundError:
        return None


def _scratch_course(job: Job) -> Course:
    # the settings too: a worker that outlives a run (Dask) may grade the next with other limits
    key = (job.lab, job.grader)
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


def grade_folder(
    course: Course,
    submissions: Path,
    labs: list[str],
    *,
    workers: int = 1,
    scheduler: str | None = None,
    force: bool = False,
    id_pattern: str | None = None,
    assign: bool = False,
) -> list[Outcome]:
    """Grade every submission found of the labs, with a progress bar and an ETA; files set
    aside or not understood are listed first. ``assign``: (re)assign the labs in ``course``
    once submissions were found (the gradebook must know each lab's current version)."""
    found = collect(submissions, labs, course.root / "incoming", id_pattern=id_pattern)
    for line in found.report():
        print(line)
    for lab in labs if assign else ():
        course.assign(lab)
    return run(course, make_jobs(course, found), workers=workers, scheduler=scheduler, force=force)


def run(
    course: Course,
    jobs: list[Job],
    *,
    workers: int = 1,
    scheduler: str | None = None,
    force: bool = False,
) -> list[Outcome]:
    """Grade ``jobs`` (skipping those already graded unless ``force``), record each result in
    ``course`` as it arrives, then grade again those the machine's load failed (``_again``);
    returns the outcomes of the jobs graded now."""
    todo = [job for job in jobs if force or not already_graded(course, job)]
    skipped = len(jobs) - len(todo)
    if skipped:
        print(f"{skipped} submission(s) already graded, skipped (--force regrades them)")
    graded = []
    if todo:
        course.check_sandbox()
    results = _results(todo, workers, scheduler)  # connects to a scheduler before the bar
    with tqdm(total=len(todo), desc="grading", unit="submission", disable=not todo) as bar:
        for job, result in results:
            graded.append((job, record(course, job, result)))
            bar.set_postfix_str(f"{job.student}/{job.lab}", refresh=False)
            bar.update()
    again = _again(course, [job for job, outcome in graded if outcome.infrastructure])
    outcomes = [again.get((o.student, o.lab), o) for _, o in graded]  # the second try counts
    course.save_notes(outcomes)
    return outcomes


def _again(course: Course, jobs: list[Job]) -> dict[tuple[str, str], Outcome]:
    """Grade again, here and one at a time, the jobs that ran out of time because the machine
    was overloaded: alone, nothing but the machine's other users competes with them."""
    if not jobs:
        return {}
    print(
        f"{len(jobs)} submission(s) ran out of time on an overloaded machine: grading them "
        "again, one at a time"
    )
    return {
        (job.student, job.lab): record(course, job, grade_job(job))
        for job in tqdm(jobs, desc="grading again", unit="submission")
    }


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
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
        futures = {pool.submit(grade_job, job): job for job in jobs}
        for future in as_completed(futures):
            yield futures[future], _result(futures[future], future)


def _connect(client_class: type, scheduler: str, timeout: str = "10s"):
    """A Dask client of ``scheduler``, or one line saying that none answers there."""
    try:
        return client_class(scheduler, timeout=timeout)
    except (OSError, TimeoutError) as exc:
        raise GradingError(
            f"no Dask scheduler answers at {scheduler} within {timeout} "
            f"({type(exc).__name__}); start one (dask scheduler) or check the "
            "address"
        ) from None


def _one_thread_each(client) -> None:
    """Refuse Dask workers with several threads: nbgrader sets the environment of the whole
    process while it grades a submission, and a worker keeps one scratch course per lab."""
    threads = sorted({w["nthreads"] for w in client.scheduler_info()["workers"].values()})
    if threads and threads[-1] > 1:
        raise GradingError(
            f"Dask workers with {threads[-1]} threads can't grade safely: start "
            "them with one thread each (dask worker --nthreads 1 --nworkers N)"
        )


def _result(job: Job, future) -> Result:
    try:
        return future.result()
    except Exception as exc:  # the worker process itself died
        return Result(
            job.student,
            job.lab,
            {},
            None,
            list(job.notes),
            error=f"the grading process died on this submission: {type(exc).__name__}: {exc}",
        )


def record(course: Course, job: Job, result: Result) -> Outcome:
    """Write one result into the course (gradebook, autograded notebook, marker); its Outcome."""
    notes = list(result.notes) + ([result.error] if result.error else [])
    folder = course.autograded(job.student, job.lab)
    before = written_answers(_read(course, f"{folder}/{job.lab}.ipynb"))
    nofollow.remove(course.root, folder)
    nofollow.make_folders(course.root, folder)
    if result.autograded is not None:
        nofollow.write_bytes(course.root, f"{folder}/{job.lab}.ipynb", result.autograded)
    if job.notebook is not None:
        nofollow.write_bytes(
            course.root, course.submitted(job.student, job.lab, f"{job.lab}.ipynb"), job.notebook
        )
    now = written_answers(result.autograded)
    changed = {gid for gid, text in now.items() if before.get(gid, text) != text}
    course.record_scores(job.student, job.lab, result.scores, changed)
    if result.error is None and result.infrastructure is None:  # else graded again next run
        nofollow.write_bytes(course.root, f"{folder}/{MARKER}", job.digest.encode())
    return Outcome(job.student, job.lab, notes, result.infrastructure)


def written_answers(autograded: bytes | None) -> dict[str, str]:
    """Grade id -> text of an autograded notebook's written answers (markdown answer cells):
    what a TA graded, so a new submission that changes one is graded again by hand."""
    if autograded is None:
        return {}
    cells = nbformat.reads(autograded.decode(), as_version=4).cells
    return {grade_id(cell): cell.source for cell in cells if is_written_answer(cell)}


def overloaded_message(outcomes: Iterable[Outcome]) -> str | None:
    """One line naming the submissions that are no grade because the machine was overloaded
    (even when graded again alone), and what to do; None if there are none."""
    failed = [f"{o.student}/{o.lab}" for o in outcomes if o.infrastructure]
    if not failed:
        return None
    return (
        f"{len(failed)} submission(s) not graded, the machine was overloaded even when "
        f"graded alone: {', '.join(failed)}; run autograde again when it is quieter (it "
        "grades only those)"
    )


def already_graded(course: Course, job: Job) -> bool:
    """True if this exact submission is graded in ``course`` by the same grader (``digest``)."""
    marker = _read(course, course.autograded(job.student, job.lab, MARKER))
    return marker == job.digest.encode()


def default_workers() -> int:
    """One worker per core."""
    return os.cpu_count() or 1
