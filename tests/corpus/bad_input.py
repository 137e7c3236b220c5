"""Bad input: submissions a student could really hand in, each with the scores it must get.

Correct work keeps its points whatever happened to the notebook; wrong, missing or unreachable
work earns nothing; every repair or failure is explained in a note.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field

import nbformat

from autograder.course import Course
from tests.conftest import solved_toy

DOUBLE = 'def double(x):\n    return 2 * x'


@dataclass(frozen=True)
class Case:
    """A submission (notebook or raw text; None: built by the test) and what it must get."""

    submission: object
    scores: dict[str, float]
    note: str = ""
    extra_files: dict[str, bytes] = field(default_factory=dict)


def cases(course: Course) -> dict[str, Case]:
    """student id -> case, built on the toy lab's released notebook."""
    solved = solved_toy(course)
    released = nbformat.read(course.release_notebook("toy"), as_version=4)

    def edit(change) -> nbformat.NotebookNode:
        nb = copy.deepcopy(solved)
        change(nb)
        return nb

    def answer(source: str, cell: int = 1):
        return lambda nb: setattr(nb.cells[cell], "source", source)

    def swap(nb):
        nb.cells[1], nb.cells[2] = nb.cells[2], nb.cells[1]

    def kernel(nb):
        nb.metadata.kernelspec = {"name": "conda-env-mine-py", "display_name": "mine", "language": "python"}

    def cheat(nb):
        nb.cells[2].source = "2.0"
        nb.cells[1].source = "def double(x):\n    return 0"

    def huge_outputs_in_file(nb):
        nb.cells[1].outputs = [nbformat.v4.new_output("stream", name="stdout", text="x" * 30_000_000)]

    full, both = {"double": 2, "square": 2}, {"double": 0, "square": 0}
    v3 = nbformat.writes(nbformat.convert(copy.deepcopy(solved), 3), version=3)
    return {
        "correct": Case(solved, full),
        "untouched": Case(released, both),
        "visible_only": Case(edit(answer("def double(x):\n    return 4 if x == 2 else 0")), {"double": 1, "square": 2}),
        "warns": Case(edit(answer("import warnings\ndef double(x):\n    warnings.warn('slow')\n    return 2 * x")), full),
        "deleted_test": Case(edit(lambda nb: nb.cells.pop(2)), full, "'double' was deleted"),
        "reordered": Case(edit(swap), full, "reordered"),
        "edited_test": Case(edit(cheat), {"double": 0, "square": 2}, "'double' was edited"),
        "duplicate_test": Case(edit(lambda nb: nb.cells.insert(1, copy.deepcopy(nb.cells[2]))), full, "more than once"),
        "other_kernel": Case(edit(kernel), full),
        "nbformat_v3": Case(v3, full),
        "corrupt": Case('{"cells": [', both, "not a readable notebook"),
        "not_a_notebook": Case('{"title": "my essay", "text": "..."}', both, "not a readable notebook"),
        "binary": Case("\x89PNG\r\n\x1a\n\x00\x00", both, "not a readable notebook"),
        "extra_files": Case(solved, full, extra_files={"data.csv": b"1,2\n", "notes/scratch.txt": b"x"}),
        "huge_notebook": Case(edit(huge_outputs_in_file), full),
        "huge_outputs": Case(edit(answer("for _ in range(50):\n    print('spam ' * 40_000)\n" + DOUBLE)), full),
        "hangs": Case(edit(answer("def double(x):\n    while True:\n        pass")), {"double": 0, "square": 2},
                      "ran past the 5 s limit per cell and was interrupted"),
        "exits": Case(edit(answer("import os\n" + DOUBLE + "\nos._exit(3)")), both, "kernel died"),
        "segfault": Case(edit(answer("import ctypes\n" + DOUBLE + "\nctypes.string_at(0)")), both, "SIGSEGV"),
        "out_of_memory": Case(edit(answer("def square(x):\n    return len(bytearray(16 * 2**30)) * 0 + x * x", 3)),
                              {"double": 2, "square": 0}),
    }
