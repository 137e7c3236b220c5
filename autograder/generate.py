"""solutions/ -> labs/ and autograder/sample_submissions/: the generated files, written or checked.

Generation is deterministic (same solutions, same bytes), so ``assign --check`` can fail CI on
any hand edit of a generated file or a forgotten regeneration.
"""
from __future__ import annotations

from pathlib import Path

import nbformat

from . import samples
from .course import REPO, SOLUTIONS, Course
from .preprocessors import lab_title

LABS = REPO / "labs"
GENERATED_DIRS = (LABS, samples.SAMPLES_DIR)


def header_cell(lab: str) -> nbformat.NotebookNode:
    """First cell of every student notebook: what it is and where it comes from."""
    text = (f"*Your copy of {lab_title(lab)}. Work in the cells marked `YOUR CODE HERE`; run "
            f"`python -m autograder validate {lab}.ipynb` before you submit.*\n\n"
            f"*Course maintainers: this file is generated from `solutions/{lab}/{lab}.ipynb` by "
            "`python -m autograder assign`; edit the source, not this file.*")
    return nbformat.v4.new_markdown_cell(text, id="generated-header")


def generated_files(course: Course, labs: list[str]) -> dict[Path, bytes]:
    """Every generated file (absolute path -> content) for the given labs."""
    files = {}
    for lab in labs:
        release_path = course.assign(lab)
        student_nb = nbformat.read(release_path, as_version=4)
        student_nb.cells.insert(0, header_cell(lab))
        files[LABS / lab / f"{lab}.ipynb"] = _bytes(student_nb)
        for extra in sorted(release_path.parent.rglob("*")):
            if extra.is_file() and extra != release_path:
                files[LABS / lab / extra.relative_to(release_path.parent)] = extra.read_bytes()
        solution = nbformat.read(SOLUTIONS / lab / f"{lab}.ipynb", as_version=4)
        for student, nb in samples.build(lab, student_nb, solution).items():
            files[samples.SAMPLES_DIR / student / lab / f"{lab}.ipynb"] = _bytes(nb)
    return files


def write(files: dict[Path, bytes], labs: list[str]) -> list[Path]:
    """Write the generated files of ``labs``, remove their stale ones; returns the paths that changed."""
    changed = stale(files, labs)
    for path in changed:
        if path in files:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(files[path])
        else:
            path.unlink()
    return changed


def stale(files: dict[Path, bytes], labs: list[str]) -> list[Path]:
    """Generated paths of ``labs`` whose content differs from ``files``, or that should not exist
    (other labs' files are left alone: ``--lab`` regenerates only what it names)."""
    on_disk = {p for d in GENERATED_DIRS if d.exists() for p in d.rglob("*") if p.is_file()}
    on_disk = {p for p in on_disk if "__pycache__" not in p.parts and p.name != "README.md"
               and set(labs) & set(p.parts)}
    differs = [p for p, data in files.items() if not p.exists() or p.read_bytes() != data]
    return sorted(set(differs) | (on_disk - set(files)))


def _bytes(nb: nbformat.NotebookNode) -> bytes:
    return (nbformat.writes(nb) + "\n").encode()
