"""nbgrader's formgrader on a course folder: where TAs grade the written answers by hand.

``python -m autograder formgrader --course-dir DIR`` starts a Jupyter server with nbgrader's
formgrader extension and nothing else, configured by this course's nbgrader configuration
(``autograder.config``: the folder, its gradebook, ``--db``): no ``nbgrader_config.py`` and no
Jupyter configuration of the machine is read (``JUPYTER_NO_CONFIG``), so the formgrader sees
exactly the gradebook ``autograde`` wrote. A TA opens the printed URL, picks a lab, then
"Manual Grading": each submission's written answers, with a score box and a comment box.

Two settings of the course's configuration are left out, for the formgrader's own pages: the
feedback template (the formgrader renders a submission with its own ``formgrade`` template)
and the grading pipeline (grading runs through ``python -m autograder autograde``, which keeps
the TAs' grades: ``Course.record_scores``; feedback through ``python -m autograder feedback``).
"""

from __future__ import annotations

import copy
import os
import secrets

from traitlets.config import Config

from .course import Course

EXTENSION = "nbgrader.server_extensions.formgrader"


def server_config(
    course: Course, *, port: int = 8888, ip: str = "127.0.0.1", token: str = ""
) -> Config:
    """A Jupyter server's configuration: the course's nbgrader settings, the formgrader only,
    served from the course folder (the formgrader wants the course inside the server's root)."""
    c = Config()
    c.CourseDirectory = copy.deepcopy(course.coursedir.config.CourseDirectory)
    c.Exchange = copy.deepcopy(course.coursedir.config.Exchange)
    c.ServerApp.jpserver_extensions = {EXTENSION: True}
    c.ServerApp.root_dir = str(course.root)
    c.ServerApp.ip, c.ServerApp.port, c.ServerApp.port_retries = ip, port, 0
    c.ServerApp.open_browser = False
    c.ServerApp.allow_root = True  # a container's user; the server runs no kernel, only forms
    c.IdentityProvider.token = token
    return c


def serve(course: Course, *, port: int = 8888, ip: str = "127.0.0.1", token: str = "") -> None:
    """Run the formgrader on ``course`` until interrupted (Ctrl-C); a new random token when
    none is given, printed in the URL."""
    from jupyter_server.serverapp import ServerApp

    if not (course.root / "gradebook.db").exists() and course.coursedir.db_url.startswith("sqlite"):
        raise FileNotFoundError(
            f"no gradebook in {course.root}: run `autograde` first, with this --course-dir"
        )
    os.environ["JUPYTER_NO_CONFIG"] = "1"  # this machine's Jupyter settings are not the course's
    token = token or secrets.token_hex(16)
    config = server_config(course, port=port, ip=ip, token=token)
    print(f"formgrader: http://{ip}:{port}/formgrader?token={token}  (Ctrl-C stops it)")
    ServerApp.launch_instance(argv=[], config=config)
