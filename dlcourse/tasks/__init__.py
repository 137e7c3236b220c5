"""Graded checks, one module per lab (``dlcourse.tasks.lab0``, ...).

Each module has one ``check_<task>`` function per task, called by the graded notebook cells and
by the autograder's tests, and a table ``TASKS`` (task id -> points). A check returns a
``dlcourse.check.Report`` whose ``points(max_points)`` is the cell's partial credit.
"""
