"""Checking machinery shared by every lab's graded checks (``dlcourse.tasks``) and by students.

Four modules, calls flowing one way (``student`` -> ``oracles`` -> ``report`` -> ``diagnosis``,
``hidden``):

- ``report``: ``compare`` one quantity with its reference -> a ``Comparison``; ``rel_error``;
  the messages; the ``Report`` that collects comparisons and gives nbgrader partial credit;
  hidden cases' redaction (their seeds: ``hidden``).
- ``diagnosis``: what a failed value most likely means (sign, factor, transpose, shift, rows,
  overflow, a check's own ``Variant``s), as a ``Hint`` under the comparison.
- ``oracles``: ``seed_all``/``start_case``, ``autograd_reference`` (float64, random upstream
  gradient), ``numerical_gradient`` (central differences), ``AUTOGRAD``.
- ``student``: calling a student's code fairly, here or in a grading kernel (``run_where``):
  ``call_student``, ``call_student_many``, ``student_autograd``, ``isolate``,
  ``within_budget``, and the early hints ``own_code``/``forbid_calls``.

Import from here: ``from dlcourse.check import compare, Report, rel_error, numerical_gradient``.
"""

from dlcourse.check.diagnosis import (
    Hint,
    Variant,
    diagnose,
    regularisation_variants,
    softmax_variants,
    swapped_variants,
)
from dlcourse.check.hidden import SECRET_ENV, HiddenSeed, hidden, use_secret
from dlcourse.check.oracles import (
    AUTOGRAD,
    autograd_reference,
    case_starter,
    numerical_gradient,
    seed_all,
    start_case,
    upstream_gradient,
)
from dlcourse.check.report import (
    Comparison,
    Report,
    case_label,
    compare,
    hidden_case,
    label,
    redact,
    rel_error,
    show,
    verdict,
)
from dlcourse.check.student import (
    RemoteError,
    call_student,
    call_student_many,
    forbid_calls,
    is_remote,
    isolate,
    own_code,
    run_where,
    student_autograd,
    within_budget,
)

__all__ = [
    "AUTOGRAD",
    "SECRET_ENV",
    "Comparison",
    "HiddenSeed",
    "Hint",
    "RemoteError",
    "Report",
    "autograd_reference",
    "call_student",
    "call_student_many",
    "case_label",
    "case_starter",
    "compare",
    "diagnose",
    "forbid_calls",
    "hidden",
    "hidden_case",
    "is_remote",
    "isolate",
    "label",
    "numerical_gradient",
    "own_code",
    "redact",
    "regularisation_variants",
    "rel_error",
    "run_where",
    "seed_all",
    "show",
    "softmax_variants",
    "start_case",
    "swapped_variants",
    "student_autograd",
    "upstream_gradient",
    "use_secret",
    "Variant",
    "verdict",
    "within_budget",
]
