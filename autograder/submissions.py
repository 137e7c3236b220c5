"""Collect submissions from whatever the LMS exported: a folder or zip, in one of ``LAYOUTS``.

- ``<student>/<lab>/<lab>.ipynb`` (the course's own layout);
- Moodle: ``<Full Name>_<id>_assignsubmission_file_<file>.ipynb``, per file or as a folder
  ``<Full Name>_<id>_assignsubmission_file_/`` holding the student's files;
- Canvas: ``<login>_[LATE_]<user id>_<submission id>_<file>.ipynb``;
- plain: ``<student>_<lab>.ipynb``, or any name with the instructor's ``id_pattern`` (a regular
  expression with a ``student`` group, optionally a ``lab`` group, matched against the file's
  path inside the export).

The lab of an LMS file is the lab id its name contains (``lab0``), or the only lab being graded.
Every zip, also one inside the export, unpacks into a folder of its own, emptied first. Several
files of one student and lab: the newest wins, the others are listed as set aside. Notebooks
that match no layout are listed too. Every problem with a student's file becomes a note for that
student and a submission graded as empty: a bad file never stops a grading run. Finding no
submission at all is an error (``NoSubmissions``) that names the layouts understood.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import nbformat

LAYOUTS = (
    "<student>/<lab>/<lab>.ipynb",
    "Moodle: <Full Name>_<id>_assignsubmission_file_<lab>.ipynb (a file, or a folder of files)",
    "Canvas: <login>_[LATE_]<user id>_<submission id>_<lab>.ipynb",
    "<student>_<lab>.ipynb, or file names matched by --id-pattern",
)
_MOODLE = re.compile(
    r"(?P<name>[^/]+?)_(?P<student>\d+)_assignsubmission_(?:file|onlinetext)_" r"(?P<rest>[^/]*)"
)
_CANVAS = re.compile(r"(?P<name>[^_/]+)_(?:LATE_)?(?P<student>\d+)_\d+_(?P<rest>[^/]+)")
_SKIPPED = ("__MACOSX", ".ipynb_checkpoints")


class NoSubmissions(ValueError):
    """Nothing in the given path looks like a submission of the labs asked for."""


@dataclass
class Submission:
    """One student's hand-in of one lab; ``notebook`` is None when nothing gradable was found."""

    student: str
    lab: str
    notebook: Path | None
    notes: list[str] = field(default_factory=list)
    name: str = ""  # the student's name where the LMS gives it
    source: str = ""  # the file or folder in the export it came from


@dataclass
class Collection:
    """What ``collect`` found: submissions (iterating goes over them), files set aside as older
    copies, and notebooks that match no layout."""

    submissions: list[Submission]
    set_aside: list[str] = field(default_factory=list)
    unmatched: list[str] = field(default_factory=list)

    def __iter__(self):
        return iter(self.submissions)

    def __len__(self) -> int:
        return len(self.submissions)

    def report(self) -> list[str]:
        """Lines for the instructor: what was set aside or not understood."""
        return [f"set aside: {line}" for line in self.set_aside] + [
            f"matches no layout, not graded: {path}" for path in self.unmatched
        ]


@dataclass
class _Candidate:
    student: str
    lab: str
    path: Path  # a notebook, or a <student>/<lab>/ folder
    name: str = ""


def unpack_zip(archive: Path, dest: Path) -> Path:
    """Extract an LMS export safely into ``dest`` (emptied first; no path may leave it), keeping
    the members' dates (the newest file of a student wins); returns ``dest``."""
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    with zipfile.ZipFile(archive) as zf:
        for member in zf.infolist():
            target = (dest / member.filename).resolve()
            if not target.is_relative_to(dest.resolve()):
                raise ValueError(f"{archive}: entry {member.filename!r} points outside the archive")
        for member in zf.infolist():
            path = Path(zf.extract(member, dest))
            stamp = time.mktime(member.date_time + (0, 0, -1))
            os.utime(path, (stamp, stamp))
    return dest


def collect(
    root: Path, labs: list[str], workdir: Path, *, id_pattern: str | None = None
) -> Collection:
    """Submissions under ``root`` (a folder or a .zip) for ``labs``, sorted by student and lab.

    Raises:
        FileNotFoundError: ``root`` is neither a folder nor a zip.
        NoSubmissions: nothing under ``root`` matches a layout for ``labs``.
    """
    root = Path(root)
    if root.is_file() and root.suffix == ".zip":
        root = unpack_zip(root, _unzip_folder(root, workdir))
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: expected a folder of submissions or a .zip of one")
    _unpack_nested(root, workdir)
    pattern = re.compile(id_pattern) if id_pattern else None
    candidates, unmatched = _candidates(root, labs, pattern)
    chosen, set_aside = _newest(candidates, root)
    if not chosen:
        raise NoSubmissions(_nothing_found(root, labs, unmatched))
    submissions = [_read(c, workdir, root) for c in chosen]
    return Collection(submissions, set_aside, [str(p.relative_to(root)) for p in unmatched])


def _unzip_folder(archive: Path, workdir: Path) -> Path:
    """A folder of its own for each archive (named after it and its bytes)."""
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()[:12]
    return workdir / "unzipped" / f"{archive.stem}-{digest}"


def _unpack_nested(root: Path, workdir: Path) -> None:
    """Unpack zips inside the export next to themselves (a Moodle folder may hold one)."""
    for archive in sorted(root.rglob("*.zip")):
        if not _skipped(archive.relative_to(root)):
            unpack_zip(archive, archive.with_name(archive.stem + ".unzipped"))


def _skipped(relative: Path) -> bool:
    return any(part.startswith(".") or part in _SKIPPED for part in relative.parts)


def _candidates(
    root: Path, labs: list[str], pattern: re.Pattern | None
) -> tuple[list[_Candidate], list[Path]]:
    """Every (student, lab) source under ``root`` and the notebooks that match no layout."""
    found, unmatched, folders = [], [], set()
    for folder in sorted(p for p in root.rglob("*") if p.is_dir() and p.name in labs):
        if folder.parent != root and not _skipped(folder.relative_to(root)):
            student, name = _student_of_folder(folder.parent.name)
            found.append(_Candidate(student, folder.name, folder, name))
            folders.add(folder)
    for path in sorted(root.rglob("*.ipynb")):
        relative = path.relative_to(root)
        if _skipped(relative) or any(folder in path.parents for folder in folders):
            continue
        match = _match(PurePosixPath(relative.as_posix()), labs, pattern)
        if match is None:
            unmatched.append(path)
        else:
            found.append(_Candidate(match[0], match[1], path, match[2]))
    return found, unmatched


def _student_of_folder(name: str) -> tuple[str, str]:
    """(student id, name) of a ``<student>/`` folder: a Moodle folder gives both."""
    m = _MOODLE.fullmatch(name)
    return (m["student"], m["name"]) if m else (_safe_id(name), "")


def _match(
    relative: PurePosixPath, labs: list[str], pattern: re.Pattern | None
) -> tuple[str, str, str] | None:
    """(student, lab, name) for a notebook's path in the export, or None."""
    text = str(relative)
    if pattern is not None:
        m = pattern.search(text)
        if not m or "student" not in m.groupdict() or not m["student"]:
            return None
        lab = m.groupdict().get("lab") or _lab_in(relative.name, labs)
        return (_safe_id(m["student"]), lab, "") if lab in labs else None
    for regex in (_MOODLE, _CANVAS):
        m = regex.search(text)
        if m:
            lab = _lab_in(m["rest"] or relative.name, labs)
            return (m["student"], lab, m["name"]) if lab else None
    m = re.fullmatch(r"(?P<student>.+)_(?P<lab>[^_]+)\.ipynb", relative.name)
    if m and m["lab"] in labs:
        return _safe_id(m["student"]), m["lab"], ""
    return None


def _lab_in(name: str, labs: list[str]) -> str | None:
    """The lab id a file name contains as a word (``lab0`` in 'Lab0-final.ipynb'), or the only
    lab being graded when the name contains none."""
    hits = [
        lab
        for lab in labs
        if re.search(rf"(?<![A-Za-z0-9]){re.escape(lab)}(?![0-9])", name, re.IGNORECASE)
    ]
    if len(hits) == 1:
        return hits[0]
    return labs[0] if not hits and len(labs) == 1 else None


def _safe_id(text: str) -> str:
    """A student id usable as a folder name and gradebook key."""
    return re.sub(r"[^A-Za-z0-9_.@-]+", "-", text.strip()).strip("-.") or "unnamed"


def _newest(candidates: list[_Candidate], root: Path) -> tuple[list[_Candidate], list[str]]:
    """One candidate per (student, lab), the newest; the others described as set aside."""
    groups: dict[tuple[str, str], list[_Candidate]] = {}
    for c in candidates:
        groups.setdefault((c.student, c.lab), []).append(c)
    chosen, set_aside = [], []
    for key in sorted(groups):
        group = sorted(groups[key], key=lambda c: (c.path.stat().st_mtime, str(c.path)))
        chosen.append(group[-1])
        newest = group[-1].path.relative_to(root)
        set_aside += [
            f"{key[0]}/{key[1]}: {c.path.relative_to(root)} (older than {newest})"
            for c in group[:-1]
        ]
    return chosen, set_aside


def _nothing_found(root: Path, labs: list[str], unmatched: list[Path]) -> str:
    seen = ", ".join(str(p.relative_to(root)) for p in unmatched[:5]) or "no notebook at all"
    return (
        f"{root}: no submission of {', '.join(labs)} found (notebooks seen: {seen}). "
        f"Layouts understood: {'; '.join(LAYOUTS)}."
    )


def _read(candidate: _Candidate, workdir: Path, root: Path) -> Submission:
    """Find and check the notebook of one candidate; problems become the student's notes."""
    student, lab, path = candidate.student, candidate.lab, candidate.path
    sub = Submission(student, lab, None, name=candidate.name, source=str(path.relative_to(root)))
    if path.is_dir():
        path = _notebook_in(path, lab, sub.notes)
        if path is None:
            return sub
    try:
        nb = nbformat.read(path, as_version=4)
    except Exception as exc:  # any parse failure is the student's file, not our crash
        sub.notes.append(
            f"{path.name} is not a readable notebook ({type(exc).__name__}: {exc}); "
            "submit the .ipynb file saved by Jupyter"
        )
        return sub
    # Grade a normalised copy: older nbformat versions are upgraded on reading.
    clean = workdir / "normalised" / student / f"{lab}.ipynb"
    clean.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, clean)
    sub.notebook = clean
    return sub


def _notebook_in(folder: Path, lab: str, notes: list[str]) -> Path | None:
    """The notebook of a ``<student>/<lab>/`` folder, or None with a note saying why."""
    expected = folder / f"{lab}.ipynb"
    if expected.exists():
        return expected
    candidates = [p for p in sorted(folder.rglob("*.ipynb")) if not _skipped(p.relative_to(folder))]
    if len(candidates) == 1:
        notes.append(
            f"notebook was named '{candidates[0].relative_to(folder)}'; "
            f"graded it as {lab}.ipynb"
        )
        return candidates[0]
    found = ", ".join(str(p.relative_to(folder)) for p in candidates) or "no notebook"
    notes.append(
        f"no {lab}.ipynb in the submission (found: {found}); "
        f"submit the lab notebook as {lab}.ipynb"
    )
    return None
