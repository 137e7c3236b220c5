"""The hint every realistic wrong submission of the tests gets (issue 17's table).

``python scripts/hint_table.py [lab ...]`` grades each ``WRONG`` submission of
``tests/test_tasks_<lab>.py`` (visible and hidden cases) and prints one markdown row per
submission: the task, the mistake (the submission's name and docstring), the quantities lost and
the hints the report carries (none: '-'), then the share that get one.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import sys
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _mistake(submission: object) -> str:
    name = getattr(submission, "__name__", type(submission).__name__)
    doc = (getattr(submission, "__doc__", None) or "").strip().splitlines()
    return f"`{name}`" + (f": {doc[0]}" if doc and name != "<lambda>" else "")


def rows(lab: str) -> list[tuple[str, bool]]:
    """One markdown row per wrong submission of ``lab``, and whether it got a hint."""
    module = importlib.import_module(f"tests.test_tasks_{lab}")
    checks = module.TestTasks
    out = []
    for task, submission, lost, *_ in checks.WRONG:
        if getattr(submission, "__name__", "").lower() == "stub":
            continue  # not started: no numbers to read
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            report, _ = checks.grade(task, submission)
        hints = dict.fromkeys(f"{c.quantity}: {c.hint.text}" for c in report if c.hint)
        shown = "<br>".join(hints) or "-"
        lost_text = ", ".join(sorted(lost))
        row = f"| {lab} | {task} | {_mistake(submission)} | {lost_text} | {shown} |"
        out.append((row, bool(hints)))
    return out


def main(labs: list[str]) -> None:
    print("| lab | task | wrong submission | loses | hint |")
    print("|---|---|---|---|---|")
    hinted = total = 0
    for lab in labs or ["lab0", "lab1", "lab2", "lab3", "lab4"]:
        for row, has_hint in rows(lab):
            print(row, flush=True)
            hinted, total = hinted + has_hint, total + 1
    print(f"\n{hinted} of {total} wrong submissions get a hint ({hinted / total:.0%}); the tests")
    print("check each hint names the mistake made, and that the others get none.")


if __name__ == "__main__":
    main(sys.argv[1:])
