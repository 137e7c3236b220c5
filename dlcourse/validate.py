"""``python -m dlcourse.validate labs/lab0/lab0.ipynb``: your check before submitting.

Runs a copy of the notebook top to bottom in a fresh kernel (your file is not changed), with the
short training budgets the grader uses, and says per task what passes and what is still missing.
Only the visible checks are in your notebook; the grader adds hidden ones with other seeds and
shapes, and grades your code in its own process, so passing here is necessary, not sufficient.

A graded test cell scores as nbgrader scores it: an error gives 0, a number as the cell's last
value is partial credit, anything else full points (text on stderr, a warning, costs nothing).
Bonus tasks (``dlcourse.tasks``) are extra credit: counted apart from the lab's maximum.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import nbformat

FAIL_MARK = "✗"
NOT_STARTED = "NotImplementedError"
"""What an untouched task raises: its stub (``# YOUR CODE HERE``)."""
SHOWN = 5
"""Problems shown per task; more are counted ("+N more")."""
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
    bonus: bool = False

    @property
    def ok(self) -> bool:
        return self.score == self.points

    @property
    def started(self) -> bool:
        """False while every problem is the task's stub raising (nothing written yet)."""
        return self.ok or not self.problems or not all(NOT_STARTED in p for p in self.problems)


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


def run_notebook(
    path: Path, *, cell_timeout: int = CELL_TIMEOUT, kernel_args: Sequence[str] = KERNEL_ARGS
) -> nbformat.NotebookNode:
    """Execute a copy of the notebook in a fresh kernel, in its folder; the file is untouched."""
    from nbclient import NotebookClient  # loads zmq and friends: only when running a notebook

    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        timeout=cell_timeout,
        kernel_name=KERNEL,
        allow_errors=True,
        extra_arguments=list(kernel_args),
        resources={"metadata": {"path": str(path.parent)}},
    )
    with _grading_budgets():
        client.execute()
    return nb


def grade_id(cell: nbformat.NotebookNode) -> str | None:
    """The nbgrader grade id of a cell, or None for a plain cell."""
    return cell.metadata.get("nbgrader", {}).get("grade_id")


def is_test_cell(cell: nbformat.NotebookNode) -> bool:
    """True for a graded (test) code cell."""
    return cell.cell_type == "code" and bool(cell.metadata.get("nbgrader", {}).get("grade"))


def cell_score(cell: nbformat.NotebookNode, points: float | None = None) -> tuple[float, float]:
    """(score, points) of an executed test cell, by nbgrader's rule (stderr aside); ``points``:
    what the task is worth as its lab declares it, else its metadata's."""
    points = float(cell.metadata["nbgrader"]["points"] if points is None else points)
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
    worth, bonus = _declared(nb)
    results = []
    for cell in nb.cells:
        if is_test_cell(cell):
            task = grade_id(cell) or "?"
            score, points = cell_score(cell, worth.get(task))
            results.append(TaskResult(task, score, points, _problems(cell), task in bonus))
    return results


def _declared(nb: nbformat.NotebookNode) -> tuple[dict[str, int], set[str]]:
    """(task -> points, bonus tasks) as ``dlcourse.tasks`` declares them for the labs whose
    checks the test cells import; empty for a notebook of no declared lab."""
    from dlcourse import tasks  # the checks' package: only once a notebook ran

    sources = "\n".join(c.source for c in nb.cells if is_test_cell(c))
    labs = {lab for lab in re.findall(r"dlcourse\.tasks\.(\w+)", sources) if tasks.declared(lab)}
    worth = {task: p for lab in labs for task, p in tasks.points(lab).items()}
    return worth, {task for lab in labs for task in tasks.bonus(lab)}


def _problems(cell: nbformat.NotebookNode) -> list[str]:
    """The failing lines the checks printed, each with its hint (the line under it, if any),
    and the error a cell raised."""
    from dlcourse.check.report import HINT_MARK  # torch: only once the checks ran

    problems: list[str] = []
    for output in cell.outputs:
        if output.output_type == "stream":
            for line in output.text.splitlines():
                if FAIL_MARK in line:
                    problems.append(line.strip())
                elif line.lstrip().startswith(HINT_MARK) and problems:
                    problems[-1] += f"\n        {line.strip()}"
        elif output.output_type == "error":
            problems.append(f"{output.ename}: {output.evalue}".strip())
    return problems


UNANSWERED = "YOUR ANSWER HERE"
"""What nbgrader leaves in a written answer's cell for the student to replace."""


def unanswered(nb: nbformat.NotebookNode) -> tuple[list[str], int]:
    """(ids of the written answers still empty, number of written answers): markdown cells that
    are nbgrader solution and grade cells, graded by a TA, not by the checks."""
    answers = [
        cell
        for cell in nb.cells
        if cell.cell_type == "markdown"
        and cell.metadata.get("nbgrader", {}).get("solution")
        and cell.metadata.get("nbgrader", {}).get("grade")
    ]
    empty = [grade_id(c) for c in answers if c.source.strip() in ("", UNANSWERED)]
    return empty, len(answers)


def _written(nb: nbformat.NotebookNode) -> list[str]:
    """The line about the written answers (none for a notebook without questions)."""
    empty, total = unanswered(nb)
    if not total:
        return []
    line = f"Written answers: {total - len(empty)} of {total} answered (a TA grades them)"
    return [line + (f"; still empty: {', '.join(empty)}." if empty else ".")]


def duplicate_grade_ids(nb: nbformat.NotebookNode) -> dict[str, list[int]]:
    """Grade ids used by more than one cell, with the (1-based) cell numbers using them."""
    ids = [grade_id(cell) for cell in nb.cells]
    counts = Counter(i for i in ids if i)
    return {
        gid: [n for n, i in enumerate(ids, 1) if i == gid] for gid, k in counts.items() if k > 1
    }


def report(path: Path, nb: nbformat.NotebookNode, results: list[TaskResult]) -> str:
    """What a student reads: one line per task (with the problems of a started one under it,
    at most ``SHOWN``) and a summary."""
    lines = [
        f"{path.name}: visible checks (the grader adds hidden ones with other seeds and " "shapes)"
    ]
    for gid, cells in duplicate_grade_ids(nb).items():
        lines.append(
            f"  ! cells {cells} share the grade id '{gid}': only the last one is graded; "
            "delete the copies"
        )
    width = max([len(r.task) for r in results] + [4])
    for r in results:
        mark = "✓" if r.ok else FAIL_MARK
        name = f"{r.task} (bonus)" if r.bonus else r.task
        line = f"  {mark} {name:<{width + 8 * r.bonus}}  {r.score:g}/{r.points:g}"
        if not r.started:
            lines.append(f"{line}  not started")
            continue
        lines.append(line)
        lines += [f"      {p}" for p in r.problems[:SHOWN]] + _more(r.problems, "      ")
    lines.append(summary(results))
    return "\n".join(lines + _written(nb))


def summary(results: list[TaskResult]) -> str:
    """'Visible checks: 20/27 points (bonus 0/4). Still to do: ...' or 'All pass ...'."""
    required = [r for r in results if not r.bonus]
    extra = [r for r in results if r.bonus]
    earned, total = sum(r.score for r in required), sum(r.points for r in required)
    text = f"Visible checks: {earned:g}/{total:g} points"
    if extra:
        text += f" (bonus {sum(r.score for r in extra):g}/{sum(r.points for r in extra):g})"
    missing = [r.task for r in required if not r.ok]
    if not missing:
        return text + ". All pass: ready to submit."
    shown = missing[: 2 * SHOWN] + _more(missing, "", 2 * SHOWN)
    return text + f". Still to do: {', '.join(shown)}."


def _more(items: list, indent: str, shown: int = SHOWN) -> list[str]:
    """['+N more'] for what a list cut at ``shown`` leaves out, else []."""
    return [f"{indent}+{len(items) - shown} more"] if len(items) > shown else []


def validate(
    path: Path, *, cell_timeout: int = CELL_TIMEOUT, kernel_args: Sequence[str] = KERNEL_ARGS
) -> int:
    """Run and report ``path``; the exit status: 0 all pass, 1 something to do, 2 no notebook."""
    if not path.is_file():
        print(f"{path}: no such notebook; give the path of your lab's .ipynb file", file=sys.stderr)
        return 2
    print(
        f"running your notebook {path.name} in a fresh kernel, top to bottom (a minute or "
        "more) ...",
        flush=True,
    )
    nb = run_notebook(path, cell_timeout=cell_timeout, kernel_args=kernel_args)
    results = task_results(nb)
    print(report(path, nb, results))
    return 0 if results and all(r.ok for r in results if not r.bonus) else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m dlcourse.validate",
        description="Run a lab notebook as the grader will and say which visible checks pass.",
    )
    parser.add_argument("notebook", type=Path, help="your lab notebook, e.g. labs/lab0/lab0.ipynb")
    parser.add_argument(
        "--timeout",
        type=int,
        default=CELL_TIMEOUT,
        help="seconds a cell may run (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    return validate(args.notebook, cell_timeout=args.timeout)


if __name__ == "__main__":
    sys.exit(main())
