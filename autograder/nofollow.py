"""Files of a course folder read and written without following a link the grader did not make.

A submission's folders (``submitted/<student>/<lab>/``, ``autograded/...``) are where a hostile
notebook would plant a symbolic link (to the solutions, the gradebook, another student's work)
for the grader to read or write through: the confused deputy. Here every path is walked from the
course folder one component at a time with ``O_NOFOLLOW``, a file is read only if it is a plain
file with one name (no hard link to something else), and a file is written by renaming a new
file over its name, so whatever that name was, nothing it pointed to changes. The course folder
itself is the instructor's and trusted.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import shutil
import stat
from pathlib import Path, PurePath

_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class UnsafePath(OSError):
    """A link, special file or hard link where the grader expected a plain file or folder."""


def read_bytes(root: Path, relative: str | PurePath) -> bytes:
    """The bytes of ``root/relative``; ``FileNotFoundError`` if it is missing."""
    *folders, name = _parts(relative)
    parent = _walk(root, folders)
    try:
        fd = _open(parent, name, os.O_RDONLY | os.O_NONBLOCK, relative)
    finally:
        os.close(parent)
    with os.fdopen(fd, "rb") as f:
        info = os.fstat(f.fileno())
        if not stat.S_ISREG(info.st_mode) or info.st_nlink != 1:
            raise UnsafePath(f"{relative}: not a plain file with one name; not read")
        return f.read()


def write_bytes(root: Path, relative: str | PurePath, data: bytes) -> None:
    """Put ``data`` at ``root/relative`` (folders made as needed), replacing whatever was there."""
    *folders, name = _parts(relative)
    parent = _walk(root, folders, create=True)
    temporary = f".{name}.{secrets.token_hex(6)}"
    try:
        fd = os.open(
            temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644, dir_fd=parent
        )
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(temporary, name, src_dir_fd=parent, dst_dir_fd=parent)
    finally:
        os.close(parent)


def make_folders(root: Path, relative: str | PurePath) -> None:
    """Make ``root/relative`` and the folders above it, as needed."""
    os.close(_walk(root, _parts(relative), create=True))


def remove(root: Path, relative: str | PurePath) -> None:
    """Delete ``root/relative`` (a folder with all it holds; a link itself, not its target)."""
    *folders, name = _parts(relative)
    try:
        parent = _walk(root, folders)
    except FileNotFoundError:
        return
    try:
        mode = os.lstat(name, dir_fd=parent).st_mode
        if stat.S_ISDIR(mode):
            shutil.rmtree(name, dir_fd=parent)
        else:
            os.unlink(name, dir_fd=parent)
    except FileNotFoundError:
        pass
    finally:
        os.close(parent)


def _parts(relative: str | PurePath) -> list[str]:
    parts = list(PurePath(relative).parts)
    if not parts or PurePath(relative).is_absolute() or any(p in ("", ".", "..") for p in parts):
        raise UnsafePath(f"{relative}: not a path inside the course folder")
    return parts


def _walk(root: Path, folders: list[str], *, create: bool = False) -> int:
    """An open descriptor of ``root/folders...``, no component of it a link."""
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    for folder in folders:
        try:
            if create:
                with contextlib.suppress(FileExistsError):
                    os.mkdir(folder, 0o755, dir_fd=fd)
            child = _open(fd, folder, _DIR, folder)
        finally:
            os.close(fd)
        fd = child
    return fd


def _open(parent: int, name: str, flags: int, shown: str | PurePath) -> int:
    try:
        return os.open(name, flags | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            raise UnsafePath(
                f"{shown}: a link, or a file where a folder belongs; " "not followed"
            ) from None
        raise
