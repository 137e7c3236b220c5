"""``python -m dlcourse.validate labs/lab0/lab0.ipynb``: your check before submitting.

Runs a copy of the notebook top to bottom in a fresh kernel (your file is not changed), with the
short training budgets the grader uses, and says per task what passes and what is still missing.
Only the visible checks are in your notebook; the grader adds hidden ones with other seeds and
shapes, and grades your code in its own process, so passing here is necessary, not sufficient.

A graded test cell scores as nbgrader scores it: an error gives 0, a number as the cell's last
value is partial credit, anything else full points (text on stderr, a warning, costs nothing).
"""
from __future__ import annotations

import argparse
import os
import sys
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import nbformat

FAIL_MARK = "✗"
CELL_TIMEOUT = 60
"""Seconds one cell may run, as while grading."""
KERNEL = "python3"
KERNEL_ARGS = ("--HistoryManager.hist_file=:memory:", "--IPKernelApp.log_level=ERROR")
"""No history file; the kernel's start-up warnings (e.g. about its transport) kept quiet."""


@dataclass
class TaskResult:
    task: str
    score: float
    points: float
    problems: list[str]

    @property
    def ok(self) -> bool:
        return self.score == self.points


@contextmanager
def _grading_budgets() -> Iterator[None]:
    """The kernel inherits ``NBGRADER_EXECUTION=validate``: notebooks train on small budgets."""
    saved = os.environ.get("NBGRADER_EXECUTION")
    os.environ["NBGRADER_EXECUTION"] = "validate"
    try:
        yield
    finally:
        if saved is None:
            del os.environ["NBGRADER_EXECUTION"]
        else:
            os.environ["NBGRADER_EXECUTION"] = saved


def run_notebook(path: Path, *, cell_timeout: int = CELL_TIMEOUT,
                 kernel_args: Sequence[str] = KERNEL_ARGS) -> nbformat.NotebookNode:
    """Execute a copy of the notebook in a fresh kernel, in its folder; the file is untouched."""
    from nbclient import NotebookClient  # loads zmq and friends: only when running a notebook

    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=cell_timeout, kernel_name=KERNEL, allow_errors=True,
                            extra_arguments=list(kernel_args),
                            resources={"metadata": {"path": str(path.parent)}})
    with _grading_budgets():
        client.execute()
    return nb


def grade_id(cell: nbformat.NotebookNode) -> str | None:
    """The nbgrader grade id of a cell, or None for a plain cell."""
    return cell.metadata.get("nbgrader", {}).get("grade_id")


def is_test_cell(cell: nbformat.NotebookNode) -> bool:
    """True for a graded (test) code cell."""
    return cell.cell_type == "code" and bool(cell.metadata.get("nbgrader", {}).get("grade"))


def cell_score(cell: nbformat.NotebookNode) -> tuple[float, float]:
    """(score, points) of an executed test cell, by nbgrader's rule (stderr aside)."""
    points = float(cell.metadata["nbgrader"]["points"])
    for output in cell.outputs:
        if output.output_type == "error":
            return 0.0, points
        if output.output_type == "execute_result":
            try:
                return min(max(float(output.data.get("text/plain", "")), 0.0), points), points
            except ValueError:
                return points, points
    return points, points


def task_results(nb: nbformat.NotebookNode) -> list[TaskResult]:
    """Score of every graded cell of an executed notebook."""
    results = []
    for cell in nb.cells:
        if is_test_cell(cell):
            score, points = cell_score(cell)
            results.append(TaskResult(grade_id(cell) or "?", score, points, _problems(cell)))
    return results


def _problems(cell: nbformat.NotebookNode) -> list[str]:
    """The failing lines the checks printed, and the error a cell raised."""
    problems = []
    for output in cell.outputs:
        if output.output_type == "stream":
            problems += [line.strip() for line in output.text.splitlines() if FAIL_MARK in line]
        elif output.output_type == "error":
            problems.append(f"{output.ename}: {output.evalue}".strip())
    return problems


def duplicate_grade_ids(nb: nbformat.NotebookNode) -> dict[str, list[int]]:
    """Grade ids used by more than one cell, with the (1-based) cell numbers using them."""
    ids = [grade_id(cell) for cell in nb.cells]
    counts = Counter(i for i in ids if i)
    return {gid: [n for n, i in enumerate(ids, 1) if i == gid]
            for gid, k in counts.items() if k > 1}


def report(path: Path, nb: nbformat.NotebookNode, results: list[TaskResult]) -> str:
    """What a student reads: one line per task, the problems under it, and a summary."""
    lines = [f"{path.name}: visible checks (the grader adds hidden ones with other seeds and "
             "shapes)"]
    for gid, cells in duplicate_grade_ids(nb).items():
        lines.append(f"  ! cells {cells} share the grade id '{gid}': only the last one is graded; "
                     "delete the copies")
    width = max([len(r.task) for r in results] + [4])
    for r in results:
        mark = "✓" if r.ok else FAIL_MARK
        lines.append(f"  {mark} {r.task:<{width}}  {r.score:g}/{r.points:g}")
        lines += [f"      {p}" for p in r.problems[:5]]
    earned, total = sum(r.score for r in results), sum(r.points for r in results)
    missing = [r.task for r in results if not r.ok]
    lines.append(f"Visible checks: {earned:g}/{total:g} points."
                 + (f" Still to do: {', '.join(missing)}." if missing
                    else " All pass: ready to submit."))
    return "\n".join(lines)


def validate(path: Path, *, cell_timeout: int = CELL_TIMEOUT,
             kernel_args: Sequence[str] = KERNEL_ARGS) -> int:
    """Run and report ``path``; the exit status: 0 all pass, 1 something to do, 2 no notebook."""
    if not path.is_file():
        print(f"{path}: no such notebook; give the path of your lab's .ipynb file", file=sys.stderr)
        return 2
    nb = run_notebook(path, cell_timeout=cell_timeout, kernel_args=kernel_args)
    results = task_results(nb)
    print(report(path, nb, results))
    return 0 if results and all(r.ok for r in results) else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m dlcourse.validate",
        description="Run a lab notebook as the grader will and say which visible checks pass.")
    parser.add_argument("notebook", type=Path, help="your lab notebook, e.g. labs/lab0/lab0.ipynb")
    parser.add_argument("--timeout", type=int, default=CELL_TIMEOUT,
                        help="seconds a cell may run (default: %(default)s)")
    args = parser.parse_args(argv)
    return validate(args.notebook, cell_timeout=args.timeout)


if __name__ == "__main__":
    sys.exit(main())
