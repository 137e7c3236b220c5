"""Instructor-only reference implementations of the graded tasks, one module per lab.

Never part of the student handout and invisible to a grading kernel. The checks in
``dlcourse.tasks`` reach them through ``dlcourse.reference`` (None where they are not installed).
Each module defines every graded task of its lab under the name the notebook uses.
"""
