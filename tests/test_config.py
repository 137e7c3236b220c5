"""dlcourse.config: settings from the environment."""

import subprocess
import sys
from pathlib import Path

import pytest

from dlcourse import config

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in (
        "DLCOURSE_DATA",
        "NBGRADER_EXECUTION",
        "DLCOURSE_FAST",
        "DLCOURSE_DEVICE",
        "DLCOURSE_OFFLINE",
    ):
        monkeypatch.delenv(name, raising=False)


def test_data_root_default_is_repo_data():
    assert config.data_root() == REPO / "data"


def test_data_root_from_env(monkeypatch, tmp_path):
    monkeypatch.setenv("DLCOURSE_DATA", str(tmp_path))
    assert config.data_root() == tmp_path


@pytest.mark.parametrize(
    "env, expected",
    [
        ({}, False),
        ({"NBGRADER_EXECUTION": "autograde"}, True),
        ({"NBGRADER_EXECUTION": "validate"}, True),
        ({"NBGRADER_EXECUTION": "something-else"}, False),
        ({"DLCOURSE_FAST": "1"}, True),
        ({"DLCOURSE_FAST": "0"}, False),
    ],
)
def test_grading_and_budget(monkeypatch, env, expected):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert config.is_grading() is expected
    assert config.budget(full=1000, grading=20) == (20 if expected else 1000)


@pytest.mark.parametrize("value, allowed", [(None, True), ("1", False), ("0", True)])
def test_downloads_allowed(monkeypatch, value, allowed):
    if value is not None:
        monkeypatch.setenv("DLCOURSE_OFFLINE", value)
    assert config.downloads_allowed() is allowed


def test_device(monkeypatch):
    torch = pytest.importorskip("torch")
    auto = "cuda" if torch.cuda.is_available() else "cpu"
    assert config.device().type == auto
    monkeypatch.setenv("DLCOURSE_DEVICE", "cpu")
    assert config.device() == torch.device("cpu")
    assert config.device(prefer="meta") == torch.device("meta")


def test_import_does_not_load_torch():
    code = (
        "import sys, dlcourse, dlcourse.config; assert 'torch' not in sys.modules, 'torch loaded'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)
