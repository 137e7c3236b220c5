"""Grading throughput: stock ``nbgrader autograde`` vs this autograder with 1 and N jobs.

A synthetic class (``--students``, default 20) per lab: mixes of correct (the reference sample),
partial (the flawed sample), untouched and broken (corrupt) notebooks. Each mode grades the same
class from scratch, in one run, so the ratios compare like with like on a noisy machine. Also
measured: a bare kernel start plus the lab's imports, the floor any notebook grader pays.

    python benchmarks/grading.py [--students 20] [--jobs N] [--lab lab0 ...]

Also run: every submission executed as handed in (nbclient, the grading budgets, no grader), the
floor of any notebook grader: a kernel start, the imports and the student's code. The grader's
overhead per submission is its time over that floor (target: at most 1.5x). Prints submissions
per hour, seconds per submission, the speed-up of N jobs; checks that 1 and N jobs give the same
grades, and where they do not, prints each run's grading notes of that submission (a cell past
its time limit, an overloaded machine) to tell why.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from tqdm import tqdm

from autograder import grading, samples
from autograder.course import SOLUTIONS, Course, lab_ids
from autograder.submissions import collect

KINDS = ("reference", "flawed", "untouched", "broken")
SECRET = "grading-benchmark"
"""The hidden cases' secret of every mode's course: each course folder would make its own, and
other hidden cases could give other grades."""


def make_class(folder: Path, labs: list[str], students: int) -> None:
    """<folder>/<student>/<lab>/<lab>.ipynb, cycling through the kinds of submission."""
    for i in range(students):
        kind = KINDS[i % len(KINDS)]
        for lab in labs:
            target = folder / f"s{i:03d}-{kind}" / lab / f"{lab}.ipynb"
            target.parent.mkdir(parents=True)
            if kind == "broken":
                target.write_text('{"cells": [')
            else:
                shutil.copy(samples.SAMPLES_DIR / kind / lab / f"{lab}.ipynb", target)


def ours(klass: Path, root: Path, labs: list[str], jobs: int) -> tuple[float, dict, dict]:
    """Seconds, {lab: {student: {task: score}}} and {(lab, student): grading notes}."""
    course = Course(root, hidden_secret=SECRET)
    for lab in labs:
        course.assign(lab)
    start = time.perf_counter()
    found = collect(klass, labs, root / "incoming")
    outcomes = grading.run(course, grading.make_jobs(course, found), workers=jobs)
    seconds = time.perf_counter() - start
    if message := grading.overloaded_message(outcomes):
        print(message)
    notes = {(o.lab, o.student): o.notes for o in outcomes}
    return seconds, {lab: course.scores(lab) for lab in labs}, notes


def stock(klass: Path, root: Path, labs: list[str]) -> tuple[float, dict]:
    """nbgrader's own CLI and pipeline (its Execute, in the student's kernel), serially."""
    root.mkdir(parents=True)
    (root / "nbgrader_config.py").write_text(
        "c = get_config()\nc.CourseDirectory.course_id = 'stock'\n"
        f"c.CourseDirectory.root = {str(root)!r}\nc.Exchange.root = {str(root / 'exchange')!r}\n"
        "c.Execute.timeout = 120\n"
    )
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}

    def nbgrader(*args: str, check: bool = True) -> None:
        subprocess.run(
            [sys.executable, "-m", "nbgrader", *args, "--force"],
            cwd=root,
            env=env,
            check=check,
            capture_output=True,
        )

    for lab in labs:
        shutil.copytree(SOLUTIONS / lab, root / "source" / lab)
        nbgrader("generate_assignment", lab, "--create")
    for student in sorted(klass.iterdir()):
        shutil.copytree(student, root / "submitted" / student.name)
    start = time.perf_counter()
    for lab in tqdm(labs, desc="stock nbgrader", unit="lab"):
        nbgrader("autograde", lab, check=False)  # exits 1 on the broken notebooks, grades the rest
    return time.perf_counter() - start, {}, {}


def bare_kernel(labs: list[str]) -> float:
    """Seconds to start a kernel and import what the labs' notebooks import (median of 3)."""
    nb = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell("import numpy, matplotlib.pyplot, torch, dlcourse.check")]
    )
    times = []
    for _ in range(3):
        start = time.perf_counter()
        NotebookClient(nb, kernel_name="python3").execute()
        times.append(time.perf_counter() - start)
    return sorted(times)[1]


def execute_only(klass: Path, labs: list[str]) -> tuple[float, dict]:
    """Run every submission as handed in, serially, with the grading budgets: no grader at all."""
    os.environ["NBGRADER_EXECUTION"] = "autograde"  # dlcourse.config.budget: grading sizes
    start = time.perf_counter()
    for notebook in tqdm(sorted(klass.glob("*/*/*.ipynb")), desc="floor", unit="submission"):
        try:
            nb = nbformat.read(notebook, as_version=4)
        except Exception:  # the broken ones: nothing to run
            continue
        client = NotebookClient(
            nb,
            kernel_name="python3",
            timeout=120,
            allow_errors=True,
            resources={"metadata": {"path": str(notebook.parent)}},
        )
        client.execute()
    del os.environ["NBGRADER_EXECUTION"]
    return time.perf_counter() - start, {}, {}


def differences(a: dict, b: dict) -> list[str]:
    """lab/student/task where two {lab: {student: {task: score}}} tables disagree, both scores."""
    out = []
    for lab in sorted(set(a) | set(b)):
        for student in sorted(set(a.get(lab, {})) | set(b.get(lab, {}))):
            x, y = a.get(lab, {}).get(student, {}), b.get(lab, {}).get(student, {})
            out += [
                f"{lab}/{student}/{task}: {x.get(task)} vs {y.get(task)}"
                for task in sorted(set(x) | set(y))
                if x.get(task) != y.get(task)
            ]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--students", type=int, default=20)
    parser.add_argument("--jobs", type=int, default=os.cpu_count())
    parser.add_argument("--lab", dest="labs", action="append", choices=lab_ids())
    parser.add_argument("--no-stock", action="store_true", help="skip stock nbgrader (slow)")
    parser.add_argument("--no-floor", action="store_true", help="skip running the notebooks bare")
    args = parser.parse_args()
    labs = args.labs or lab_ids()
    work = Path(tempfile.mkdtemp(prefix="grading-bench-"))
    make_class(work / "class", labs, args.students)
    n = args.students * len(labs)
    bare = bare_kernel(labs)
    rows = (
        []
        if args.no_floor
        else [("submissions executed, no grading (floor)", *execute_only(work / "class", labs))]
    )
    if not args.no_stock:
        rows.append(
            ("stock nbgrader autograde, serial", *stock(work / "class", work / "stock", labs))
        )
    rows.append(("dlcourse autograder, 1 job", *ours(work / "class", work / "one", labs, 1)))
    rows.append(
        (
            f"dlcourse autograder, {args.jobs} jobs",
            *ours(work / "class", work / "many", labs, args.jobs),
        )
    )
    floor = None if args.no_floor else rows[0][1]
    print(
        f"\n{args.students} students x {len(labs)} lab(s) ({', '.join(labs)}) = {n} submissions; "
        f"{os.cpu_count()} cores; bare kernel start + imports: {bare:.1f} s\n"
    )
    print(f"{'mode':42s} {'seconds':>8s} {'s/submission':>13s} {'per hour':>9s} {'x floor':>8s}")
    for name, seconds, *_ in rows:
        ratio = f"{seconds / floor:8.2f}" if floor else f"{'-':>8s}"
        print(f"{name:42s} {seconds:8.1f} {seconds / n:13.2f} {3600 * n / seconds:9.0f} {ratio}")
    one, many = rows[-2][1], rows[-1][1]
    if floor:
        print(
            f"\ngrader overhead per submission, 1 job: {(one - floor) / n:.2f} s "
            f"({(one - floor) / n / bare:.2f}x a bare kernel start + imports)"
        )
    print(f"speed-up of {args.jobs} jobs over 1: {one / many:.2f}x")
    print("1 job and N jobs give the same grades:", rows[-2][2] == rows[-1][2])
    for where in differences(rows[-2][2], rows[-1][2]):
        print("  differs:", where)
        lab, student = where.split("/")[:2]
        for name, _, _, notes in rows[-2:]:
            print(f"    notes, {name}: {notes.get((lab, student)) or 'none'}")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
