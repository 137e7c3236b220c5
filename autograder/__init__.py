"""The course's autograder: nbgrader driven from Python over a plain course folder.

Modules: ``config`` (the nbgrader configuration), ``preprocessors`` (fixes for nbgrader's traps),
``course`` (assign/autograde/feedback/scores on one course folder), ``submissions`` (collect a
folder or zip), ``gradesheet`` (table and CSV), ``generate`` (solutions -> labs), ``samples``
(sample submissions and their expected scores), ``validate`` (students' pre-submit check),
``cli`` (``python -m autograder``).
"""
