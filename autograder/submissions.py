"""Collect submissions: a folder laid out ``<student>/<lab>/<lab>.ipynb``, or a zip of one.

Every problem with a file becomes a note for the student and a submission graded as empty;
nothing here raises for a student's mistake, so one bad file never stops a grading run.
"""
from __future__ import annotations

import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import nbformat


@dataclass
class Submission:
    """One student's hand-in of one lab; ``notebook`` is None when nothing gradable was found."""

    student: str
    lab: str
    notebook: Path | None
    notes: list[str] = field(default_factory=list)


def unpack_zip(archive: Path, dest: Path) -> Path:
    """Extract an LMS export safely (no paths outside ``dest``); returns the submissions folder."""
    dest.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(archive) as zf:
        for member in zf.infolist():
            target = (dest / member.filename).resolve()
            if not target.is_relative_to(dest.resolve()):
                raise ValueError(f"{archive}: entry {member.filename!r} points outside the archive")
        zf.extractall(dest)
    entries = [p for p in dest.iterdir() if not p.name.startswith(("__MACOSX", "."))]
    # An export often wraps everything in one top folder: descend into it.
    if len(entries) == 1 and entries[0].is_dir() and not _has_lab_folders(entries[0]):
        return entries[0]
    return dest


def _has_lab_folders(student_dir: Path) -> bool:
    return any(p.is_dir() and p.name.startswith("lab") for p in student_dir.iterdir())


def collect(root: Path, labs: list[str], workdir: Path) -> list[Submission]:
    """Submissions under ``root`` (a folder or a .zip) for the given labs, sorted by student."""
    if root.suffix == ".zip":
        root = unpack_zip(root, workdir / "unzipped")
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: expected a folder <student>/<lab>/<lab>.ipynb or a .zip of one")
    found = []
    for student_dir in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for lab in labs:
            if (student_dir / lab).is_dir():
                found.append(_read(student_dir.name, lab, student_dir / lab, workdir))
    return found


def _read(student: str, lab: str, folder: Path, workdir: Path) -> Submission:
    """Find and check the notebook in one student's lab folder."""
    expected = folder / f"{lab}.ipynb"
    candidates = sorted(folder.rglob("*.ipynb"))
    candidates = [p for p in candidates if ".ipynb_checkpoints" not in p.parts]
    notes = []
    if expected.exists():
        path = expected
    elif len(candidates) == 1:
        path = candidates[0]
        notes.append(f"notebook was named '{path.relative_to(folder)}'; graded it as {lab}.ipynb")
    else:
        found = ", ".join(str(p.relative_to(folder)) for p in candidates) or "no notebook"
        notes.append(f"no {lab}.ipynb in the submission (found: {found}); submit the lab notebook as {lab}.ipynb")
        return Submission(student, lab, None, notes)
    try:
        nb = nbformat.read(path, as_version=4)
    except Exception as exc:  # any parse failure is the student's file, not our crash
        notes.append(f"{path.name} is not a readable notebook ({type(exc).__name__}: {exc}); "
                     "submit the .ipynb file saved by Jupyter")
        return Submission(student, lab, None, notes)
    # Grade a normalised copy: older nbformat versions are upgraded on reading.
    clean = workdir / "normalised" / student / f"{lab}.ipynb"
    clean.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, clean)
    return Submission(student, lab, clean, notes)
