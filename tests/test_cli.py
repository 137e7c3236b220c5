"""The instructor's commands: every mistake an instructor can make is one line and exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from autograder.cli import main


def test_feedback_and_export_need_an_existing_course_folder(tmp_path, capsys):
    missing = tmp_path / "no-such-course"
    for command in (["feedback"], ["export", "--csv", str(tmp_path / "g.csv")]):
        assert main([*command, "--course-dir", str(missing)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "no course folder" in err
    assert not missing.exists()  # not created on the way


@pytest.mark.parametrize("command", [["feedback"], ["export", "--csv", "grades.csv"]])
def test_nothing_graded_is_one_line_not_a_traceback(tmp_path, capsys, command):
    (tmp_path / "course").mkdir()
    assert main([*command, "--lab", "lab0", "--course-dir", str(tmp_path / "course")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: nothing graded") and err.count("\n") == 1


def test_no_submission_found_is_an_error_naming_the_layouts(tmp_path, capsys):
    (tmp_path / "export").mkdir()
    (tmp_path / "export" / "readme.txt").write_text("not a notebook")
    code = main(
        [
            "autograde",
            str(tmp_path / "export"),
            "--lab",
            "lab0",
            "--course-dir",
            str(tmp_path / "course"),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and "no submission of lab0 found" in err and "Moodle" in err
    assert err.count("\n") == 1


def test_an_unreachable_scheduler_is_one_line(tmp_path, capsys):
    from tests.conftest import toy_notebook, write_submission

    write_submission(tmp_path / "in", "ana", "lab0", toy_notebook())
    code = main(
        [
            "autograde",
            str(tmp_path / "in"),
            "--lab",
            "lab0",
            "--course-dir",
            str(tmp_path / "course"),
            "--scheduler",
            "tcp://127.0.0.1:9",
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and "no Dask scheduler answers at tcp://127.0.0.1:9" in err
    assert err.count("\n") == 1


def test_a_missing_roster_is_one_line_before_any_grading(tmp_path, capsys):
    from tests.conftest import toy_notebook, write_submission

    write_submission(tmp_path / "in", "ana", "lab0", toy_notebook())
    roster = str(tmp_path / "class.csv")
    for command in (["autograde", str(tmp_path / "in")], ["export", "--csv", "g.csv"]):
        (tmp_path / "course").mkdir(exist_ok=True)
        code = main(
            [
                *command,
                "--lab",
                "lab0",
                "--roster",
                roster,
                "--course-dir",
                str(tmp_path / "course"),
            ]
        )
        err = capsys.readouterr().err
        assert code == 2 and err.count("\n") == 1, err
        assert f"{roster}: no such roster file" in err and "Errno" not in err
    assert not (tmp_path / "course" / "submitted").exists()  # nothing graded first


def test_nbgrader_failures_are_one_line_naming_their_log(tmp_path):
    from autograder.course import Course, GradingError

    course = Course(tmp_path / "course")
    result = {
        "success": False,
        "error": "Traceback (most recent call last):\n  ...\nKeyError: 'x'",
        "log": "[AutogradeApp | ERROR] something long\nmore",
    }
    with pytest.raises(GradingError) as raised:
        course._check(result, "autograde lab0")
    message = str(raised.value)
    assert "\n" not in message and message.startswith("nbgrader failed to autograde lab0: ")
    log = message.split("(its log: ")[1].rstrip(")")
    assert "KeyError: 'x'" in Path(log).read_text()
