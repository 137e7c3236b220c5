"""``python -m autograder <command>``: the course's grading commands.

    assign [--check]        solutions/ -> labs/ (+ sample submissions); --check: fail if stale
    autograde SUBMISSIONS   grade a folder <student>/<lab>/<lab>.ipynb, or a .zip of one
                            [--jobs N | --scheduler ADDRESS] [--force]
    formgrader              nbgrader's formgrader on the course: TAs grade written answers
                            [--port N] [--ip ADDRESS] [--token TOKEN]
    feedback                feedback HTML for every graded submission
    export --csv FILE       one row per student: student_id, a column per task, total, max
    demo                    assign, grade the sample submissions, feedback, CSV, table, handout
    release [--out DIR]     the student handout: notebooks, dlcourse, data, no answers
    validate NOTEBOOK       for students: run the visible checks, say what passes

Every command takes --course-dir DIR: where the gradebook and nbgrader's folders live, and the
grading limits (--timeout per cell, --notebook-timeout, --memory-gb for the student's kernel).
Grading refuses to start where student kernels can't be sandboxed (bubblewrap missing), unless
given --unsafe-no-sandbox.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import formgrader, generate, grading, release, samples, validate
from .config import CELL_TIMEOUT
from .course import DEFAULT_COURSE_DIR, MEMORY_LIMIT, Course, GradingError, Outcome, lab_ids
from .execute import NOTEBOOK_TIMEOUT
from .gradesheet import NOT_ON_ROSTER, gradesheet, read_roster


def cmd_assign(course: Course, args: argparse.Namespace) -> int:
    if args.check:
        stale = generate.stale_files(args.labs)
        for path in stale:
            print(f"stale: {path.relative_to(generate.REPO)}")
        print(
            "generated files are stale: run `python -m autograder assign`"
            if stale
            else "generated files are up to date"
        )
        return 1 if stale else 0
    _assign(course, args.labs, force=args.force)
    return 0


def _assign(course: Course, labs: list[str], *, force: bool = False) -> None:
    changed = generate.assign(course, labs, force=force)
    for path in changed:
        print(f"wrote {path.relative_to(generate.REPO)}")
    print(f"assigned {', '.join(labs)}: {len(changed)} file(s) changed")


def _roster(args: argparse.Namespace) -> list[str] | None:
    return read_roster(Path(args.roster)) if getattr(args, "roster", None) else None


def print_results(
    course: Course, labs: list[str], outcomes: list[Outcome], roster: list[str] | None = None
) -> None:
    print(gradesheet(course, labs, roster).table())
    for o in outcomes:
        for note in o.notes:
            print(f"note: {o.student}/{o.lab}: {note}")


def cmd_autograde(course: Course, args: argparse.Namespace) -> int:
    course.check_sandbox()  # before anything else: one line saying why not
    roster = _roster(args)  # a wrong roster path is told before grading, not after
    outcomes = grading.grade_folder(
        course,
        Path(args.submissions),
        args.labs,
        workers=args.jobs,
        scheduler=args.scheduler,
        force=args.force,
        id_pattern=args.id_pattern,
        assign=True,
    )
    print_results(course, args.labs, outcomes, roster)
    if message := grading.overloaded_message(outcomes):
        print(f"error: {message}", file=sys.stderr)
        return 1
    return 0


def cmd_formgrader(course: Course, args: argparse.Namespace) -> int:
    """Serve nbgrader's formgrader on the course's gradebook (``autograder.formgrader``)."""
    formgrader.serve(course, port=args.port, ip=args.ip, token=args.token)
    return 0


def cmd_feedback(course: Course, args: argparse.Namespace) -> int:
    graded = [lab for lab in args.labs if course.scores(lab)]
    for lab in args.labs:
        if lab not in graded:
            print(f"{lab}: nothing graded yet in {course.root}, no feedback to write")
    for lab in graded:
        course.feedback(lab)
    if not graded:
        raise GradingError(f"nothing graded in {course.root}: run `autograde` first")
    print(f"feedback written under {course.root / 'feedback'}")
    return 0


def cmd_export(course: Course, args: argparse.Namespace) -> int:
    roster = _roster(args)
    if not roster and not any(course.scores(lab) for lab in args.labs):
        raise GradingError(
            f"nothing graded in {course.root} for {', '.join(args.labs)}: "
            "run `autograde` first (or give --roster to list the class)"
        )
    sheet = gradesheet(course, args.labs, roster)
    sheet.write_csv(Path(args.csv))
    print(f"wrote {args.csv}")
    if sheet.unlisted:
        print(f"{NOT_ON_ROSTER}, graded and in the CSV: {', '.join(sheet.unlisted)}")
    return 0


def cmd_demo(course: Course, args: argparse.Namespace) -> int:
    """The whole instructor loop on the bundled samples, checked against their expected scores."""
    course.check_sandbox()
    _assign(course, args.labs)  # also assigns in course
    outcomes = grading.grade_folder(
        course, samples.SAMPLES_DIR, args.labs, workers=args.jobs, force=True
    )
    for lab in args.labs:
        course.feedback(lab)
    sheet = gradesheet(course, args.labs)
    csv_path = course.root / "grades.csv"
    sheet.write_csv(csv_path)
    print_results(course, args.labs, outcomes)
    print(
        f"\nfeedback: {course.root / 'feedback'}/<student>/<lab>/<lab>.html\ngrades:   {csv_path}"
    )
    wrong = [
        line
        for lab in args.labs
        for line in samples.mismatches(lab, course.tasks(lab), sheet.rows, sheet.pending)
    ]
    print(release.build(course, release.DEFAULT_OUT, args.labs).summary())
    print(
        "\n".join(["sample scores differ from expected:", *wrong])
        if wrong
        else "sample scores as expected: reference full marks, untouched 0, flawed loses exactly "
        "its flaws; written answers of reference and flawed wait for a TA"
    )
    return 1 if wrong else 0


def cmd_release(course: Course, args: argparse.Namespace) -> int:
    """Build the student handout (see ``autograder.release``) and say what is in it."""
    print(release.build(course, args.out, args.labs).summary())
    return 0


def cmd_validate(_course: Course, args: argparse.Namespace) -> int:
    return validate.validate(Path(args.notebook), cell_timeout=args.timeout)


def parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--course-dir",
        type=Path,
        default=DEFAULT_COURSE_DIR,
        help="where the gradebook and nbgrader's folders live (default: %(default)s)",
    )
    common.add_argument(
        "--lab",
        dest="labs",
        action="append",
        choices=lab_ids(),
        help="limit to this lab (repeatable; default: all labs in solutions/)",
    )
    common.add_argument(
        "--timeout",
        type=int,
        default=CELL_TIMEOUT,
        help="seconds a cell may run (default: %(default)s)",
    )
    common.add_argument(
        "--notebook-timeout",
        type=int,
        default=NOTEBOOK_TIMEOUT,
        help="seconds a whole notebook may run while grading (default: %(default)s)",
    )
    common.add_argument(
        "--memory-gb",
        type=float,
        default=MEMORY_LIMIT / 2**30,
        help="memory of a student's kernel while grading, GiB; 0: no limit (default: %(default)s)",
    )
    common.add_argument(
        "--db",
        metavar="URL",
        help="gradebook database (default: SQLite in the "
        "course folder; e.g. postgresql://user@host/grades)",
    )
    common.add_argument(
        "--unsafe-no-sandbox",
        action="store_true",
        help="grade even where bubblewrap can't sandbox student kernels: their "
        "code could then read the solutions and other students' work and "
        "change grades (only for notebooks you trust)",
    )
    common.add_argument(
        "--jobs",
        "-j",
        type=int,
        default=grading.default_workers(),
        help="submissions graded at once on this machine (default: the cores, %(default)s)",
    )
    p = argparse.ArgumentParser(
        prog="python -m autograder", description="The course's grading commands, on nbgrader."
    )
    sub = p.add_subparsers(dest="command", required=True)

    def command(name: str, text: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, parents=[common], help=text, description=text)

    assign = command("assign", "regenerate labs/ and the sample submissions from solutions/")
    assign.add_argument(
        "--check", action="store_true", help="change nothing; exit 1 if any generated file is stale"
    )
    assign.add_argument(
        "--force",
        action="store_true",
        help="overwrite generated files edited "
        "since they were generated (a .bak copy of each is kept)",
    )
    autograde = command("autograde", "grade a folder <student>/<lab>/<lab>.ipynb, or a .zip of one")
    autograde.add_argument("submissions", help="the folder or .zip (e.g. an LMS export)")
    autograde.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="grade on a Dask cluster (e.g. tcp://10.0.0.1:8786) instead of --jobs",
    )
    autograde.add_argument(
        "--force",
        action="store_true",
        help="regrade submissions already graded (default: skip them, so an "
        "interrupted run resumes)",
    )
    autograde.add_argument(
        "--id-pattern",
        metavar="REGEX",
        help="student ids from file names: a regular expression with a group "
        "'student' (and optionally 'lab'), searched in each notebook's path",
    )
    roster_help = "CSV of student ids: students without a submission get 0 and 'no submission'"
    autograde.add_argument("--roster", metavar="CSV", help=roster_help)
    grader = command(
        "formgrader",
        "serve nbgrader's formgrader on the course's gradebook: TAs grade the written "
        "answers (scores and comments) in a browser",
    )
    grader.add_argument("--port", type=int, default=8888, help="default: %(default)s")
    grader.add_argument(
        "--ip", default="127.0.0.1", help="address to listen on (default: %(default)s)"
    )
    grader.add_argument("--token", default="", help="access token (default: a new random one)")
    command("feedback", "write feedback HTML for every graded submission")
    export = command(
        "export",
        "write the grades CSV: a row per student, a column per task, "
        "per-lab totals and %, total, max, %",
    )
    export.add_argument("--csv", required=True, help="output file")
    export.add_argument("--roster", metavar="CSV", help=roster_help)
    command(
        "demo",
        "assign, grade the bundled sample submissions, feedback, CSV, print the "
        "table, build the student handout",
    )
    command(
        "release",
        "build the student handout: notebooks, dlcourse, bundled data, set-up " "files; no answers",
    ).add_argument(
        "--out",
        type=Path,
        default=release.DEFAULT_OUT,
        help="folder to build it in (replaced if it holds an earlier handout; "
        "default: %(default)s)",
    )
    command(
        "validate", "students: run the visible checks of a notebook before submitting"
    ).add_argument("notebook", help="your lab notebook, e.g. labs/lab0/lab0.ipynb")
    return p


COMMANDS = {
    "assign": cmd_assign,
    "autograde": cmd_autograde,
    "formgrader": cmd_formgrader,
    "feedback": cmd_feedback,
    "export": cmd_export,
    "demo": cmd_demo,
    "release": cmd_release,
    "validate": cmd_validate,
}


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    args.labs = args.labs or lab_ids()
    if args.command in ("feedback", "export", "formgrader") and not args.course_dir.is_dir():
        print(
            f"error: no course folder {args.course_dir}: give the --course-dir that "
            "`autograde` used",
            file=sys.stderr,
        )
        return 2
    try:
        memory = int(args.memory_gb * 2**30) or None
        course = (
            None
            if args.command == "validate"
            else Course(
                args.course_dir,
                cell_timeout=args.timeout,
                notebook_timeout=args.notebook_timeout,
                memory_limit=memory,
                db_url=args.db,
                unsafe_no_sandbox=args.unsafe_no_sandbox,
            )
        )
        return COMMANDS[args.command](course, args)
    except (
        GradingError,
        FileNotFoundError,
        ValueError,
        generate.EditedFiles,
        release.ReleaseError,
    ) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
