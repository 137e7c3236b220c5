"""`python -m autograder release`: a student handout with no answer in it, whose checks work alone.

The handout is built once (module fixture). What it must not hold is derived from the solution
notebooks (graded functions: those with a ``### BEGIN SOLUTION`` region) and from
``autograder/reference/``; the audit is shown able to fail on planted answers.
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import nbformat
import pytest

from autograder import answers, release
from autograder.course import SOLUTIONS, Course, lab_ids
from dlcourse import tasks

LABS = lab_ids()


def solution(lab: str) -> nbformat.NotebookNode:
    return nbformat.read(SOLUTIONS / lab / f"{lab}.ipynb", as_version=4)


@pytest.fixture(scope="module")
def handout(tmp_path_factory) -> release.Handout:
    course = Course(tmp_path_factory.mktemp("course"))
    return release.build(course, tmp_path_factory.mktemp("out") / "handout", LABS)


# ----------------------------------------------------------------------------- what is in it


@pytest.mark.slow
def test_handout_has_the_student_files_only(handout):
    files = {str(p) for p in handout.files()}
    for lab in LABS:
        assert f"labs/{lab}/{lab}.ipynb" in files
    assert {
        "README.md",
        "Makefile",
        "requirements.txt",
        "pyproject.toml",
        "dlcourse/validate.py",
        "dlcourse/reference.py",
        "data/README.md",
        "data/mnist_subset.npz",
    } <= files
    assert any(f.startswith("data/sst/") for f in files)
    assert not [f for f in files if "__pycache__" in f or f.endswith(".pyc")]
    parts = {part for p in handout.files() for part in p.parts}
    assert not parts & {"autograder", "solutions", "sample_submissions"}
    assert handout.size() < 16 * 2**20
    requirements = (handout.root / "requirements.txt").read_text()
    assert "torch==" in requirements and "jupyter==" in requirements
    assert not any(name in requirements for name in ("nbgrader", "distributed", "pytest"))
    readme = (handout.root / "README.md").read_text()
    assert "make setup" in readme and "make labs" in readme and "dlcourse.validate" in readme


@pytest.mark.slow
def test_no_solution_hidden_test_or_instructor_file(handout):
    secret = {
        p.read_bytes()
        for d in (SOLUTIONS, release.REPO / "autograder")
        for p in d.rglob("*")
        if p.is_file() and p.suffix in (".py", ".ipynb")
    }
    secret -= {p.read_bytes() for p in (release.REPO / "labs").rglob("*.ipynb")}  # the untouched
    assert secret  # samples are the student notebooks; the rest stays instructor-only
    for path in handout.files():
        data = (handout.root / path).read_bytes()
        assert data not in secret, path
        if path.suffix == ".ipynb":
            assert b"BEGIN SOLUTION" not in data and b"BEGIN HIDDEN TESTS" not in data, path


@pytest.mark.slow
def test_every_graded_task_is_found_and_none_is_implemented(handout):
    """Graded tasks come from the solution notebooks: every solution cell with a grade id holds
    at least one graded function, and the handout defines none of them beyond a stub."""
    for lab in LABS:
        nb = solution(lab)
        cells = [
            c
            for c in nb.cells
            if c.metadata.get("nbgrader", {}).get("solution") and c.cell_type == "code"
        ]  # a markdown solution cell is a written answer (``answers.written_answers``)
        for cell in cells:
            single = nbformat.v4.new_notebook(cells=[cell])
            assert answers.graded_functions(lab, single), (lab, cell.metadata.nbgrader.grade_id)
    students = [
        nbformat.read(handout.root / "labs" / lab / f"{lab}.ipynb", as_version=4) for lab in LABS
    ]
    found = answers.Answers.of({lab: solution(lab) for lab in LABS}, students)
    assert len(found.graded) >= len(LABS) * 5 and found.prints
    assert answers.scan(handout.root, found) == []


@pytest.mark.slow
def test_the_audit_finds_planted_answers(handout, tmp_path):
    """The scan can fail: a renamed copy of a reference, a graded name implemented, a solution
    notebook, a copied reference file, all planted in a copy of the handout."""
    copy = tmp_path / "handout"
    shutil.copytree(handout.root, copy)
    reference = (release.REPO / "autograder" / "reference" / "lab0.py").read_text()
    tree = ast.parse(reference)
    ap = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "eval_AP")
    renamed = ast.unparse(ap).replace("eval_AP", "average_precision")
    renamed = renamed.replace("ranked_labels", "in_order").replace("precision =", "p =")
    renamed = renamed.replace("y * precision", "y * p")
    (copy / "dlcourse" / "helpers.py").write_text(
        "import numpy as np\n\n" + renamed + "\n\n\ndef stable_softmax(S):\n"
        "    E = np.exp(S - S.max(axis=1, keepdims=True))\n"
        "    return E / E.sum(axis=1, keepdims=True)\n"
    )
    (copy / "dlcourse" / "tasks" / "lab0_reference.py").write_text(reference)
    shutil.copy(SOLUTIONS / "lab0" / "lab0.ipynb", copy / "labs" / "lab0" / "solution.ipynb")
    problems = release.audit(
        copy,
        {lab: solution(lab) for lab in LABS},
        [nbformat.read(copy / "labs" / lab / f"{lab}.ipynb", as_version=4) for lab in LABS],
    )
    text = "\n".join(problems)
    assert (
        "helpers.py: average_precision (line 3) is a renamed copy of "
        "autograder/reference/lab0.py: eval_AP" in text
    )
    assert "helpers.py: stable_softmax implements graded task lab0.stable_softmax" in text
    assert "dlcourse/tasks/lab0_reference.py: instructors only" in text
    assert "labs/lab0/solution.ipynb: holds 'BEGIN SOLUTION'" in text


def test_release_refuses_to_overwrite_a_folder_that_is_not_a_handout(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(release.ReleaseError, match="is not a handout"):
        release.build(Course(tmp_path / "course"), tmp_path, ["lab0"])
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_handout_requirements_drop_the_grader_only_packages():
    pins = release.requirements()
    assert pins and all("==" in pin for pin in pins)
    assert {release._package(p) for p in pins}.isdisjoint(release.GRADER_ONLY)


# ----------------------------------------------------------------------------- the handout alone


def _alone(handout: Path, tmp_path: Path) -> tuple[list[str], dict[str, str]]:
    """A Python command and environment that see the handout first and cannot import
    ``autograder``: no site processing (the editable install's finder lives in a .pth file),
    site-packages added by hand, and the notebook kernel started the same way."""
    site = sorted({sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]})
    bootstrap = tmp_path / "alone.py"
    bootstrap.write_text(
        "import runpy, sys\n"
        f"sys.path[:0] = [{str(handout)!r}]\n"
        f"sys.path += {site!r}\n"
        "sys.argv.pop(0)\n"
        "if sys.argv[0] == '-c':\n    exec(sys.argv[1])\n"
        "else:\n    runpy.run_module(sys.argv[0], run_name='__main__', alter_sys=True)\n"
    )
    python = [sys.executable, "-I", "-S", str(bootstrap)]
    kernel = tmp_path / "jupyter" / "kernels" / "python3"
    kernel.mkdir(parents=True)
    (kernel / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [*python, "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": "Python 3 (handout alone)",
                "language": "python",
            }
        )
    )
    env = {k: v for k, v in os.environ.items() if k not in ("DLCOURSE_DATA", "PYTHONPATH")}
    env.update(JUPYTER_PATH=str(tmp_path / "jupyter"), DLCOURSE_OFFLINE="1")
    return python, env


def assembled(handout: Path, lab: str) -> nbformat.NotebookNode:
    """The handout's notebook with the solution cells' code put in (markers dropped)."""
    nb = nbformat.read(handout / "labs" / lab / f"{lab}.ipynb", as_version=4)
    code = {
        c.metadata.nbgrader.grade_id: c.source
        for c in solution(lab).cells
        if c.metadata.get("nbgrader", {}).get("solution")
    }
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if cell.metadata.get("nbgrader", {}).get("solution"):
            cell.source = "\n".join(
                line
                for line in code[gid].splitlines()
                if line.strip() not in (answers.BEGIN, answers.END)
            )
    return nb


@pytest.mark.slow
def test_the_handout_alone_cannot_import_the_grader(handout, tmp_path):
    python, env = _alone(handout.root, tmp_path)
    probe = (
        "import dlcourse, dlcourse.reference as r\nprint(dlcourse.__file__)\n"
        "print(r.available('lab0'), r.reference('lab0', 'eval_AP'))\n"
        "import autograder"
    )
    done = subprocess.run([*python, "-c", probe], env=env, capture_output=True, text=True)
    assert done.stdout.splitlines() == [
        str(handout.root / "dlcourse" / "__init__.py"),
        "False None",
    ]
    assert "ModuleNotFoundError: No module named 'autograder'" in done.stderr


@pytest.mark.slow
@pytest.mark.parametrize("lab", LABS)
def test_a_reference_submission_gets_full_marks_in_the_handout_alone(handout, tmp_path, lab):
    python, env = _alone(handout.root, tmp_path)
    work = tmp_path / "submission" / lab
    work.mkdir(parents=True)
    nbformat.write(assembled(handout.root, lab), work / f"{lab}.ipynb")
    shutil.copy(handout.root / "labs" / lab / f"{lab}.ipynb", work / "untouched.ipynb")
    validate = [*python, "dlcourse.validate"]
    done = subprocess.run(
        [*validate, str(work / f"{lab}.ipynb")],
        env=env,
        cwd=handout.root,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "All pass: ready to submit." in done.stdout
    done = subprocess.run(
        [*validate, str(work / "untouched.ipynb")],
        env=env,
        cwd=handout.root,
        capture_output=True,
        text=True,
        timeout=900,
    )
    total = sum(
        c.metadata.nbgrader.points
        for c in release.visible_test_cells(nbformat.read(work / "untouched.ipynb", as_version=4))
    )
    assert done.returncode == 1 and f"Visible checks: 0/{total:g} points" in done.stdout, (
        done.stdout + done.stderr
    )
    assert total == tasks.max_points(lab)  # a bonus counts apart, as extra credit
