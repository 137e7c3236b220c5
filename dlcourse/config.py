"""Settings read from the environment, all in one place.

Environment variables:

- ``DLCOURSE_DATA``: folder with the datasets (default ``<repo>/data``).
- ``NBGRADER_EXECUTION``: set by nbgrader to ``autograde`` or ``validate`` while it runs a notebook.
- ``DLCOURSE_FAST``: ``1`` shrinks training budgets as when grading (CI, quick runs).
- ``DLCOURSE_DEVICE``: torch device to use (``cpu``, ``cuda``, ``cuda:1``, ...).
- ``DLCOURSE_OFFLINE``: ``1`` forbids downloads: loaders use what is on disk, else bundled data.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # torch is imported lazily: reading a setting must not load it
    import torch

_GRADING_MODES = ("autograde", "validate")


def data_root() -> Path:
    """Folder that holds the datasets.

    ``$DLCOURSE_DATA`` if set, else ``<repo>/data`` (resolved relative to this package). Tests and
    benchmarks point ``DLCOURSE_DATA`` at a folder of real datasets; on users' machines datasets are
    downloaded into this folder.
    """
    env = os.environ.get("DLCOURSE_DATA")
    if env:
        return Path(env).expanduser()
    return Path(__file__).resolve().parents[1] / "data"


def is_grading() -> bool:
    """True while nbgrader executes the notebook (``NBGRADER_EXECUTION`` is ``autograde`` or
    ``validate``) or when ``DLCOURSE_FAST=1``."""
    return (
        os.environ.get("NBGRADER_EXECUTION") in _GRADING_MODES
        or os.environ.get("DLCOURSE_FAST") == "1"
    )


def downloads_allowed() -> bool:
    """False when ``DLCOURSE_OFFLINE=1``: data loaders then never touch the network (tests, graders
    without internet) and use the data on disk, else the small subsets bundled in ``data/``."""
    return os.environ.get("DLCOURSE_OFFLINE") != "1"


def budget(full: int, grading: int) -> int:
    """``grading`` while grading (see :func:`is_grading`), else ``full``.

    Notebooks use it to shrink training, e.g. ``param_niter=config.budget(full=1000, grading=20)``.
    """
    return grading if is_grading() else full


def device(prefer: str | None = None) -> torch.device:
    """Torch device to compute on: ``prefer`` if given, else ``$DLCOURSE_DEVICE``, else ``cuda``
    when available, else ``cpu``."""
    import torch

    name = prefer or os.environ.get("DLCOURSE_DEVICE")
    if not name:
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(name)


def model_device(model: torch.nn.Module) -> torch.device:
    """Where ``model``'s parameters (or buffers) live, so its inputs can be sent there; the CPU
    for a model without any. Beside :func:`device`: the one answers where to put a new model,
    this one where a given model already is."""
    import itertools

    import torch

    for tensor in itertools.chain(model.parameters(), model.buffers()):
        return tensor.device
    return torch.device("cpu")
