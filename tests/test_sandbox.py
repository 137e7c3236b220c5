"""The OS sandbox of student kernels (bubblewrap, ``autograder.sandbox``): what a hostile notebook
can't see, write, leave behind or reach; links the grader won't follow; refusing to grade
unsandboxed; and what the sandbox costs per submission.

The hostile notebooks are the tampering corpus's OS cases (``tests/corpus/tampering``), graded
here next to an honest student with the host checked around them: files' hashes, processes,
a TCP listener on the host's loopback, the host's ``/tmp`` and ``/dev/shm``.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import resource
import socket
import threading
import time
from pathlib import Path

import nbformat
import pytest

from autograder import grading, nofollow, sandbox
from autograder.cli import main
from autograder.config import nbgrader_config
from autograder.course import KERNEL_SEES, REPO, Course, GradingError
from autograder.execute import GradingExecute
from autograder.gradesheet import gradesheet
from autograder.grading import grade_folder
from tests.conftest import solved_toy, toy_notebook, write_submission
from tests.test_tampering import CORPUS, expected_score

ATTACKS = [
    "fork_leaves_a_process",
    "symlinks_its_folder",
    "network",
    "fills_tmp_and_shm",
    "native_writes",
    "deletes_other_kernels",
    "huge_message",
]
LISTENER_PORT = 47613  # the port tests/corpus/tampering/network.py tries on 127.0.0.1
PWNED = b"\n# pwned\n"  # what tests/corpus/tampering/native_writes.py appends where it can
needs_bwrap = pytest.mark.skipif(
    sandbox.unavailable() is not None, reason=f"no OS sandbox here: {sandbox.unavailable()}"
)


def _course(root: Path, **settings) -> Course:
    (root / "solutions" / "toy").mkdir(parents=True)
    nbformat.write(toy_notebook(), root / "solutions" / "toy" / "toy.ipynb")
    course = Course(root / "course", solutions=root / "solutions", cell_timeout=30, **settings)
    course.assign("toy")
    return course


def _hashes(*folders: Path) -> dict[str, str]:
    return {
        str(p): hashlib.sha256(p.read_bytes()).hexdigest()
        for folder in folders
        for p in sorted(folder.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts
    }


def _processes_named(name: str) -> list[str]:
    found = []
    for comm in Path("/proc").glob("[0-9]*/comm"):
        try:
            if comm.read_text().strip() == name:
                found.append(comm.parent.name)
        except OSError:
            pass
    return found


class _Listener:
    """A TCP server on the host's 127.0.0.1 that counts who reached it."""

    def __init__(self, port: int) -> None:
        self.server = socket.create_server(("127.0.0.1", port))
        self.server.settimeout(0.2)
        self.reached, self._stop = 0, threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                self.server.accept()[0].close()
                self.reached += 1
            except TimeoutError:
                pass

    def close(self) -> None:
        self._stop.set()
        self.thread.join()
        self.server.close()


@pytest.fixture(scope="module")
def attacked(tmp_path_factory):
    """The OS attacks and an honest student graded in one run; the host around it, before and
    after."""
    root = tmp_path_factory.mktemp("sandbox")
    course = _course(root)
    folder = root / "submissions"
    for attack in ATTACKS:
        nb = solved_toy(course)
        nb.cells[3].source = (CORPUS / f"{attack}.py").read_text()
        write_submission(folder, attack, "toy", nb)
    write_submission(folder, "honest", "toy", solved_toy(course))
    watched = [REPO / "solutions", course.solutions, course.root / "source"]
    before = _hashes(*watched)
    listener = _Listener(LISTENER_PORT)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    try:
        grade_folder(course, folder, ["toy"], workers=1, force=True)
    finally:
        listener.close()
    grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak) * 1024
    return {
        "course": course,
        "rows": gradesheet(course, ["toy"]).rows,
        "before": before,
        "after": _hashes(*watched),
        "reached": listener.reached,
        "sources": _hashes(REPO / "dlcourse", REPO / "autograder" / "reference"),
        "orphans": _processes_named("dlcourse-orphan"),
        "grown": grown,
    }


# ------------------------------------------------------------------------ hostile kernels


@needs_bwrap
@pytest.mark.slow
@pytest.mark.parametrize("attack", ATTACKS)
def test_an_attack_costs_the_attacker_only_its_own_points(attacked, attack):
    assert attacked["rows"][attack]["toy:square"] == expected_score(attack)
    assert attacked["rows"][attack]["toy:double"] == 2  # the rest of its work still counts


@needs_bwrap
@pytest.mark.slow
def test_the_honest_student_keeps_full_marks(attacked):
    assert attacked["rows"]["honest"] == {"toy:double": 2.0, "toy:square": 2.0}


@needs_bwrap
@pytest.mark.slow
def test_no_file_of_the_course_or_the_project_changed(attacked):
    assert attacked["after"] == attacked["before"]
    assert len(attacked["before"]) > 5  # the solutions were watched
    # The project's sources: edited by people while this runs, so checked for the attack's mark
    written = [p for p in attacked["sources"] if PWNED in Path(p).read_bytes()]
    assert written == [] and len(attacked["sources"]) > 10


@needs_bwrap
@pytest.mark.slow
def test_nothing_a_kernel_started_outlives_it(attacked):
    assert attacked["orphans"] == []


@needs_bwrap
@pytest.mark.slow
def test_a_kernel_reaches_nothing_on_the_network(attacked):
    assert attacked["reached"] == 0


@needs_bwrap
@pytest.mark.slow
def test_a_huge_message_never_reaches_the_graders_memory(attacked):
    assert attacked["grown"] < 256 * 2**20  # huge_message sends 600 MB in one message


@needs_bwrap
@pytest.mark.slow
def test_files_in_tmp_and_shm_die_with_the_kernel(attacked):
    left = [p for folder in ("/tmp", "/dev/shm") for p in Path(folder).glob("dlcourse-fill-*")]
    assert left == []


@needs_bwrap
@pytest.mark.slow
def test_a_kernel_replacing_its_folder_by_a_link_moves_no_write(attacked):
    course = attacked["course"]
    for student in ["symlinks_its_folder", "honest"]:
        folder = course.root / "autograded" / student / "toy"
        assert not folder.is_symlink() and not (folder / "toy.ipynb").is_symlink()
        assert (folder / "toy.ipynb").stat().st_nlink == 1
        data = nofollow.read_bytes(course.root, f"autograded/{student}/toy/toy.ipynb")
        nbformat.reads(data.decode(), as_version=4)


# ------------------------------------------------------------------------ settings, refusal, links


def test_the_kernel_sees_of_the_machine_only_the_system_its_python_and_what_it_imports(tmp_path):
    jail = sandbox.Jail(
        sandbox.Limits(),
        hidden=(str(REPO), str(tmp_path)),
        visible=tuple(map(str, KERNEL_SEES)),
        sockets=str(tmp_path / "s"),
        requests=str(tmp_path / "r"),
    )
    for privileged in (True, False):
        args = sandbox.options(jail, privileged=privileged)
        pairs = list(zip(args, args[1:]))
        shown = {b for a, b in pairs if a in ("--ro-bind", "--bind")} - {"/dev/null"}
        assert "/" not in shown and "/home" not in shown and ("--tmpfs", "/tmp") in pairs
        assert str(REPO / "autograder" / "kernel.py") in shown and str(REPO) not in shown
        assert not any(p.startswith(str(REPO / "solutions")) or "reference" in p for p in shown)
        assert ("--unshare-user" in args) == (not privileged) and "--unshare-net" in args


def test_settings_travel_with_each_kernel_not_the_environment(tmp_path):
    config = nbgrader_config(tmp_path / "course", memory_limit=2**30, hidden=[tmp_path / "x"])
    execute = GradingExecute(config=config)
    execute.nb = nbformat.v4.new_notebook()
    km = execute.create_kernel_manager()
    try:
        assert km.jail.limits.memory == 2**30
        assert str(tmp_path / "course") in km.jail.hidden and str(tmp_path / "x") in km.jail.hidden
        assert km.transport == "ipc" and km.connection_file.startswith(str(km.folder))
    finally:
        asyncio.run(km.cleanup_resources())
    assert not km.folder.exists() and sandbox.ENV not in os.environ


def test_grading_is_refused_in_one_line_without_a_sandbox(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sandbox.shutil, "which", lambda name: None)
    sandbox.unavailable.cache_clear()
    try:
        code = main(["autograde", str(tmp_path), "--course-dir", str(tmp_path / "course")])
        Course(tmp_path / "unsafe", unsafe_no_sandbox=True).check_sandbox()  # the risk, named
    finally:
        sandbox.unavailable.cache_clear()
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "bwrap is not installed" in err and "--unsafe-no-sandbox" in err


def test_dask_workers_with_several_threads_are_refused():
    class Client:
        def scheduler_info(self):
            return {"workers": {"a": {"nthreads": 1}, "b": {"nthreads": 4}}}

    with pytest.raises(GradingError, match="one thread each"):
        grading._one_thread_each(Client())


def test_the_grader_follows_no_link_it_did_not_make(tmp_path):
    root, outside = tmp_path / "course", tmp_path / "solutions.ipynb"
    outside.write_bytes(b"the answers")
    (root / "autograded" / "ann").mkdir(parents=True)
    os.symlink(outside.parent, root / "autograded" / "ann" / "lab")  # a folder turned into a link
    os.link(outside, root / "autograded" / "hard.ipynb")
    os.symlink(outside, root / "autograded" / "soft.ipynb")
    os.mkfifo(root / "autograded" / "fifo.ipynb")
    for name in ["ann/lab/solutions.ipynb", "hard.ipynb", "soft.ipynb", "fifo.ipynb"]:
        with pytest.raises(nofollow.UnsafePath):
            nofollow.read_bytes(root, f"autograded/{name}")
    with pytest.raises(nofollow.UnsafePath):
        nofollow.write_bytes(root, "autograded/ann/lab/solutions.ipynb", b"graded")
    for name in ["hard.ipynb", "soft.ipynb"]:  # the name is replaced, not what it pointed to
        nofollow.write_bytes(root, f"autograded/{name}", b"graded")
        assert nofollow.read_bytes(root, f"autograded/{name}") == b"graded"
    nofollow.remove(root, "autograded/ann")
    assert outside.read_bytes() == b"the answers" and not (root / "autograded" / "ann").exists()
    with pytest.raises(nofollow.UnsafePath):
        nofollow.read_bytes(root, "../solutions.ipynb")


# ------------------------------------------------------------------------ what it costs


@needs_bwrap
@pytest.mark.slow
def test_what_the_sandbox_adds_per_submission(tmp_path, capsys):
    """Honest submissions graded with and without the OS sandbox, alternately, in one run."""
    courses = {
        "sandboxed": _course(tmp_path / "a"),
        "unsafe": _course(tmp_path / "b", unsafe_no_sandbox=True),
    }
    seconds = {mode: 0.0 for mode in courses}
    for i in range(2):
        for mode, course in courses.items():
            folder = tmp_path / f"{mode}{i}"
            write_submission(folder, f"s{i}", "toy", solved_toy(course))
            start = time.perf_counter()
            grade_folder(course, folder, ["toy"], workers=1, force=True)
            seconds[mode] += time.perf_counter() - start
            assert course.scores("toy", f"s{i}")[f"s{i}"] == {"double": 2.0, "square": 2.0}
    ratio = seconds["sandboxed"] / seconds["unsafe"]
    with capsys.disabled():
        print(
            f"\nper submission: sandboxed {seconds['sandboxed'] / 2:.2f} s, unsafe "
            f"{seconds['unsafe'] / 2:.2f} s, ratio {ratio:.2f}"
        )
    assert ratio < 2
