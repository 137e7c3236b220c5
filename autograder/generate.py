"""solutions/ -> labs/ and autograder/sample_submissions/: the generated files, written or checked.

Generation is deterministic (same solutions, same bytes), so ``assign --check`` can fail CI on
any hand edit of a generated file or a forgotten regeneration.

Generation never destroys work: each generated notebook carries, in its metadata (``MARK``), the
hash of what was generated, so a file edited since (a student who worked in ``labs/``, a TA's
fix) is told apart from one that is merely out of date. ``write`` replaces only files that are
missing or unedited, refuses edited ones (``EditedFiles``) unless forced, and then keeps a
backup; it deletes nothing it did not generate. Files it does not generate (checkpoints, other
notebooks) are never touched nor reported.
"""

from __future__ import annotations

import hashlib
import subprocess
import tempfile
import time
from pathlib import Path

import nbformat

from . import samples
from .course import REPO, SOLUTIONS, Course
from .preprocessors import lab_title

LABS = REPO / "labs"
GENERATED_DIRS = (LABS, samples.SAMPLES_DIR)
MARK = "dlcourse_generated"
"""Notebook metadata key: the sha256 of the notebook as generated (without this key)."""


class EditedFiles(RuntimeError):
    """Generated files were edited since they were generated; ``paths`` lists them."""

    def __init__(self, paths: list[Path]) -> None:
        self.paths = paths
        listed = ", ".join(str(_shown(p)) for p in paths)
        super().__init__(
            f"not overwritten, edited since generated: {listed}. Students work in "
            "the handout (`python -m autograder release`), not in labs/; move the "
            "work elsewhere, or run `assign --force` (keeps a .bak copy of each)"
        )


def header_cell(lab: str) -> nbformat.NotebookNode:
    """First cell of every student notebook: what it is and how to check it before submitting
    (that it is generated, and from what, is for instructors: ``MARK`` in its metadata)."""
    text = (
        f"*Your copy of {lab_title(lab)}. Work in the cells marked `YOUR CODE HERE`. Before "
        f"you submit, run `python -m dlcourse.validate {lab}.ipynb` in this notebook's folder "
        f"(or `make validate LAB={lab}` in the handout's).*"
    )
    return nbformat.v4.new_markdown_cell(text, id="generated-header")


def assign(course: Course, labs: list[str], *, force: bool = False) -> list[Path]:
    """Assign ``labs`` in ``course`` and write what that generates (``write``); the paths that
    changed."""
    return write(generated_files(course, labs), labs, force=force)


def stale_files(labs: list[str]) -> list[Path]:
    """Generated files of ``labs`` that differ from what assigning them now makes (in a scratch
    course: a check leaves every real gradebook alone)."""
    with tempfile.TemporaryDirectory() as scratch:
        return stale(generated_files(Course(Path(scratch)), labs), labs)


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


def write(
    files: dict[Path, bytes],
    labs: list[str],
    *,
    force: bool = False,
    dirs: tuple[Path, ...] = GENERATED_DIRS,
) -> list[Path]:
    """Write the generated files of ``labs`` and remove the unedited ones no longer generated;
    returns the paths that changed.

    Raises:
        EditedFiles: some of them were edited since generated (nothing is written then);
            with ``force`` each is first copied to ``<name>.bak-<time>``.
    """
    changed = stale(files, labs, dirs)
    edited = [p for p in changed if p.exists() and not unedited(p)]
    if edited and not force:
        raise EditedFiles(edited)
    for path in edited:
        path.replace(path.with_name(f"{path.name}.bak-{time.strftime('%Y%m%d-%H%M%S')}"))
    for path in changed:
        if path in files:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(files[path])
        elif path.exists():
            path.unlink()
    return changed


def stale(
    files: dict[Path, bytes], labs: list[str], dirs: tuple[Path, ...] = GENERATED_DIRS
) -> list[Path]:
    """Generated paths of ``labs`` whose content differs from ``files``, and notebooks generated
    earlier into ``dirs`` (unedited, with ``MARK``) that generation no longer writes. Other
    labs' files are
    left alone (``--lab`` regenerates only what it names), and so is every file generation did
    not make (a student's notebook, ``.ipynb_checkpoints``)."""
    differs = [p for p, data in files.items() if not p.exists() or p.read_bytes() != data]
    earlier = {
        p
        for d in dirs
        if d.exists()
        for p in d.rglob("*.ipynb")
        if set(labs) & set(p.parts)
        and ".ipynb_checkpoints" not in p.parts
        and p not in files
        and _marked(p)
        and unedited(p)
    }
    return sorted(set(differs) | earlier)


def unedited(path: Path) -> bool:
    """True if ``path`` is a notebook exactly as generation wrote it: its ``MARK`` matches its
    content, or (a notebook generated before marks existed) it equals the committed version."""
    data = path.read_bytes()
    try:
        nb = nbformat.reads(data.decode(), as_version=4)
    except Exception:  # not a notebook any more: edited
        return False
    mark = nb.metadata.pop(MARK, None)
    if mark is not None:
        return mark == _digest(_plain_bytes(nb))
    return data == _committed(path)


def _marked(path: Path) -> bool:
    try:
        return MARK in nbformat.read(path, as_version=4).metadata
    except Exception:
        return False


def _committed(path: Path) -> bytes | None:
    """The file's content in git's HEAD, or None (no git, not committed)."""
    try:
        done = subprocess.run(
            ["git", "show", f"HEAD:{path.relative_to(REPO).as_posix()}"],
            cwd=REPO,
            capture_output=True,
            check=False,
        )
    except (OSError, ValueError):
        return None
    return done.stdout if done.returncode == 0 else None


def _shown(path: Path) -> Path:
    return path.relative_to(REPO) if path.is_relative_to(REPO) else path


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _plain_bytes(nb: nbformat.NotebookNode) -> bytes:
    return (nbformat.writes(nb) + "\n").encode()


def _bytes(nb: nbformat.NotebookNode) -> bytes:
    """The notebook's bytes, marked with their own hash (``MARK``)."""
    nb = nbformat.from_dict(nb)
    nb.metadata.pop(MARK, None)
    nb.metadata[MARK] = _digest(_plain_bytes(nb))
    return _plain_bytes(nb)
