"""Was a cell slow, or was the machine busy? Linux's scheduler statistics per thread.

``/proc/<pid>/task/<tid>/schedstat`` holds three numbers for a thread: nanoseconds it ran on a
CPU, nanoseconds it was runnable but waited on a run queue, and its time slices. Waiting on a run
queue is time other processes took from it: a student's code that computes is running, and code
that sleeps or waits for input is on no run queue. So the waiting share of a cell's wall time
tells a cell that is slow from one starved by the grading machine's load: a cell's time limit
counts only time it could run (``autograder.execute``), and a machine too loaded for that is no
place to grade (``autograder.grading`` grades such a submission again, alone).
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterable
from dataclasses import dataclass

STRETCH = 3
"""A cell's time limit grows by the time its grading waited for a CPU, up to this many times the
limit: a cell then gets the same time to run on a loaded machine as on an idle one while other
load takes up to two thirds of its CPU (two other busy processes per core). Past that the machine is
too loaded to grade fairly."""
LOADED_SHARE = 0.25
"""Output that arrived late came late because of the machine's load when the grading waited for
a CPU for more than this share of the time (a quarter: more than a busy but fair machine's short
waits)."""
BUSY = 0.75
"""Processes that ran on this share of all the cores kept the machine busy themselves: their
waiting is their own doing (a student's code that starts more busy threads than there are
cores waits for its own threads), not the load's."""


@dataclass(frozen=True)
class Usage:
    """Seconds on a CPU and seconds runnable but waiting for one, summed over threads."""

    ran: float = 0.0
    waited: float = 0.0

    def __sub__(self, earlier: Usage) -> Usage:
        # a thread that ended meanwhile takes its counts with it: never below 0
        return Usage(max(0.0, self.ran - earlier.ran), max(0.0, self.waited - earlier.waited))


def owed(used: Usage, wall: float, cores: int | None = None) -> float:
    """Seconds of ``wall`` that processes which used ``used`` could not run because other load
    held the CPUs: the time they waited (at most ``wall``), unless they kept the ``cores``
    (default: those this process may use) ``BUSY`` themselves."""
    cores = cores or len(os.sched_getaffinity(0))
    return 0.0 if used.ran >= BUSY * cores * wall else min(used.waited, wall)


def starved(used: Usage, wall: float, cores: int | None = None) -> bool:
    """Whether other load kept those processes from running more than ``LOADED_SHARE`` of
    ``wall``."""
    return owed(used, wall, cores) > LOADED_SHARE * wall


def usage(pids: Iterable[int]) -> Usage:
    """CPU time and run-queue wait of every thread of ``pids`` (those gone are skipped)."""
    ran = waited = 0
    for pid in set(pids):
        for path in glob.glob(f"/proc/{pid}/task/*/schedstat"):
            try:
                with open(path) as f:
                    fields = f.read().split()
                ran, waited = ran + int(fields[0]), waited + int(fields[1])
            except (OSError, IndexError, ValueError):
                pass  # ended meanwhile
    return Usage(ran / 1e9, waited / 1e9)


def descendants(pid: int) -> list[int]:
    """``pid`` and every process below it (from each process's parent in ``/proc/*/stat``)."""
    children: dict[int, list[int]] = {}
    for path in glob.glob("/proc/[0-9]*/stat"):
        try:
            with open(path) as f:
                stat = f.read()
        except OSError:
            continue  # ended meanwhile
        fields = stat[stat.rfind(")") + 2 :].split()  # after the command name, which may hold ")"
        children.setdefault(int(fields[1]), []).append(int(path.split("/")[2]))
    found, todo = [], [pid]
    while todo:
        found.append(todo.pop())
        todo += children.get(found[-1], [])
    return found
