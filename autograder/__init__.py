"""The course's autograder: nbgrader driven from Python over a plain course folder.

Modules, by what an instructor does with them:

- The course folder: ``course`` (assign, autograde one submission, feedback, scores; nbgrader's
  layout), ``config`` (the nbgrader configuration), ``preprocessors`` (fixes for nbgrader's
  traps; bonus tasks as extra credit), ``points`` (points declared once, in
  ``dlcourse.tasks``, written into the notebooks).
- Generating: ``generate`` (solutions -> labs/ and the samples, never destroying work),
  ``samples`` (sample submissions and their expected scores), ``release`` and ``answers`` (the
  student handout and its audit for answers), ``reference`` (instructors' implementations of
  the graded tasks: never in the handout).
- Grading a class: ``submissions`` (LMS exports in), ``grading`` (one pure job per submission:
  serial, N processes or Dask; resuming; retrying what load failed), ``gradesheet`` (the class
  table and the CSV out), ``load`` (a loaded machine told from a slow cell), ``formgrader``
  (nbgrader's formgrader on the course folder: TAs grade the written answers by hand).
- Grading untrusted code: ``execute`` (nbgrader's Execute hardened: test cells in the grader,
  limits, dead kernels), ``rpc`` and ``kernel`` (the grader's and the kernel's sides of a test
  cell), ``sandbox`` (the kernel's bubblewrap sandbox), ``nofollow`` (file access that follows no
  link), ``integrity`` (what graded code may use, checked on its source).
- ``validate`` (students' pre-submit check, in the grader's kernel) and ``cli``
  (``python -m autograder``: parse and print, nothing else).
"""
