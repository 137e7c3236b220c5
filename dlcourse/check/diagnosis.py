"""What a wrong value most likely means: the mistakes a TA recognises from the numbers alone.

``diagnose(yours, expected)`` tries, in order, a small set of transformations of the expected
value (a check's own ``Variant``s first, then the generic ones below) and returns the first that
fits within the comparison's tolerance, as a ``Hint``: a question a TA would ask, never the fix.

Generic transformations (``expected`` -> what ``yours`` equals):

============================  ==========================================================
overflow                      inf/nan where expected is finite
sign flipped                  -expected
a factor k                    k * expected or expected / k, k an integer (2, N, T, ...)
transposed                    expected.T
a constant shift              expected + c, or + the same vector in every row
a few rows (or columns)       equal to expected on most rows, not on a few
off by one (integer values)   expected + 1 or expected - 1 (only these, and the layouts)
the right numbers elsewhere   expected reshaped into another layout, or permuted
============================  ==========================================================

A check adds its own likely mistakes as ``Variant``s: e.g. ``regularisation_variants`` (the
term left out, doubled, halved) from the check's own oracle run with other values of lambda.

Every hint has a second wording for hidden cases (``Hint.hidden``): what fits, without any
number of the case (a factor k would tell N). A hint never changes a score: it only explains a
comparison that has already failed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

MAX_FACTOR = 10_000
"""Largest integer factor k recognised (a batch size, a sequence length, a pixel count)."""


@dataclass(frozen=True)
class Hint:
    """A question about the likely mistake; ``hidden``: the same without the case's numbers."""

    text: str
    hidden: str

    @classmethod
    def plain(cls, text: str) -> Hint:
        """A hint that names no number of the case, shown alike in visible and hidden cases."""
        return cls(text, text)


TRANSPOSED = Hint.plain(
    "yours is the expected matrix transposed: are rows and columns swapped (W vs. W^T, "
    "(inputs, outputs) vs. (outputs, inputs), true vs. predicted classes)?"
)


@dataclass(frozen=True)
class Variant:
    """A check's own likely mistake: ``expected`` as the mistake would compute it (e.g. the
    regularisation term left out), and the question to ask when the student's value fits it."""

    expected: object
    hint: Hint | str


class _Fit:
    """Whether a candidate array matches ``yours`` within the comparison's tolerance."""

    def __init__(self, yours: np.ndarray, atol: float, rtol: float) -> None:
        self.yours, self.atol, self.rtol = yours, atol, rtol

    def close(self, candidate: np.ndarray) -> np.ndarray:
        """Elementwise |yours - candidate| <= atol + rtol |candidate| (np.isclose's rule)."""
        with np.errstate(invalid="ignore"):
            return np.abs(self.yours - candidate) <= self.atol + self.rtol * np.abs(candidate)

    def __call__(self, candidate: np.ndarray) -> bool:
        return candidate.shape == self.yours.shape and bool(self.close(candidate).all())


def diagnose(
    yours: np.ndarray,
    expected: np.ndarray,
    *,
    atol: float,
    rtol: float,
    case: str = "",
    variants: Iterable[Variant] = (),
    counts: bool = False,
) -> Hint | None:
    """The first likely mistake that explains ``yours`` (float64, failed the comparison with
    ``expected``), or None: a check's variant if exactly one fits (two that fit alike: no hint),
    else the first generic one. ``case`` ('seed=1, N=6, T=5') names the sizes a factor may be.
    ``counts``: the expected values are integers (counts, indices, epochs), where a factor or a
    sign would fit by chance; an off-by-one is tried instead (so it is for values that are all
    simple fractions: accuracies, rates)."""
    fit = _Fit(yours, atol, rtol)
    fitting = {
        variant.hint if isinstance(variant.hint, Hint) else Hint.plain(variant.hint): None
        for variant in variants
        if fit(np.asarray(variant.expected, dtype=np.float64))
    }
    if len(fitting) > 1:
        return None  # the case can't tell these mistakes apart: no guess
    if fitting:
        return next(iter(fitting))
    if yours.shape != expected.shape:
        return _layout(fit, expected)
    if not np.isfinite(yours).all():
        return _overflow(yours, expected)
    if _flat(expected, atol):
        return None  # an expected value of ~0 everywhere: every multiple of it is ~0 too
    if counts or _fractions(expected):
        return (
            _off_by_one(fit, expected)
            or _transposed(fit, expected)
            or _rows(fit, expected)
            or _order(fit, expected)
        )  # no permutation: a few small counts in another order often are a coincidence
    return (
        _sign(fit, expected)
        or _factor(yours, expected, fit, _sizes(case))
        or _transposed(fit, expected)
        or _shift(yours, expected, fit)
        or _rows(fit, expected)
        or _order(fit, expected)
        or _layout(fit, expected)
    )


MAX_DENOMINATOR = 1000
"""Values p/q with q up to this are read as counts or shares (an accuracy of 3/12)."""


def _fractions(expected: np.ndarray) -> bool:
    """Every value a fraction p/q, q <= MAX_DENOMINATOR: an accuracy, a rate, a count, where a
    factor or a sign fits by chance (an accuracy of 0.5 is 2 x 0.25)."""
    if expected.size > MAX_DENOMINATOR:
        return False
    q = np.arange(1, MAX_DENOMINATOR + 1)[:, None]  # (Q, 1)
    scaled = expected.ravel()[None, :] * q  # (Q, size)
    return bool((np.abs(scaled - np.round(scaled)) <= 1e-9 * q).any(axis=0).all())


def _flat(expected: np.ndarray, atol: float) -> bool:
    return bool(np.all(np.abs(expected) <= atol))


def _sizes(case: str) -> dict[str, int]:
    """{'N': 6, 'T': 5} from a case label: the sizes a factor could be (not the seed)."""
    return {
        name: int(value)
        for name, value in re.findall(r"\b(\w+)=(\d+)\b", case)
        if name != "seed" and int(value) > 1
    }


def _overflow(yours: np.ndarray, expected: np.ndarray) -> Hint | None:
    bad = ~np.isfinite(yours) & np.isfinite(expected)
    if not bad.any():
        return None
    return Hint.plain(
        "yours is inf or nan where the expected value is finite: does an exp overflow for "
        "large inputs (a softmax or a sigmoid of large scores computed as on paper), or does a "
        "log or a division meet 0?"
    )


def _sign(fit: _Fit, expected: np.ndarray) -> Hint | None:
    if not fit(-expected):
        return None
    return Hint.plain(
        "yours is exactly the expected value with the sign flipped: is a minus sign missing or "
        "extra (a gradient of the loss vs. of its negative, or x - y written as y - x)?"
    )


def _factor(
    yours: np.ndarray, expected: np.ndarray, fit: _Fit, sizes: dict[str, int]
) -> Hint | None:
    """yours = k * expected or expected / k for an integer 2 <= k <= MAX_FACTOR."""
    ratio = float(np.vdot(yours, expected) / np.vdot(expected, expected))  # least squares
    if not np.isfinite(ratio) or ratio <= 0:
        return None
    bigger = ratio > 1
    k = round(ratio if bigger else 1 / ratio)
    if not 2 <= k <= MAX_FACTOR or not fit(expected * k if bigger else expected / k):
        return None
    names = [name for name, size in sizes.items() if size == k]
    times = f"{k} times" if bigger else f"1/{k} of"
    said = f"yours is {times} the expected value"
    if names:
        said += f" ({k} = {' = '.join(names)} in this case)"
    if k == 2:
        question = (
            "is a factor 2 missing or extra: the derivative of a square (x^2 -> 2x), a 1/2 in "
            "front of a sum of squares, or a term counted twice?"
        )
        return Hint.plain(f"{said}: {question}")
    question = (
        "did you sum where the mean is asked for (over the batch, the time steps, the "
        "elements), or leave out a division?"
        if bigger
        else "did you divide once too often, e.g. averaging a value that was already a mean?"
    )
    hidden = f"yours is a whole-number multiple {'of' if bigger else 'fraction of'}"
    return Hint(f"{said}: {question}", f"{hidden} the expected value: {question}")


def _order(fit: _Fit, expected: np.ndarray) -> Hint | None:
    """A sequence (1-D, >= 3 values) reversed, or one step late or early."""
    if expected.ndim != 1 or expected.size < 3 or np.ptp(expected) == 0:
        return None
    if fit(expected[::-1]):
        return Hint.plain(
            "yours is the expected sequence in reverse order: does a sort run the wrong way "
            "(ascending where descending is asked, or the other way)?"
        )
    late = _Fit(fit.yours[1:], fit.atol, fit.rtol)(expected[:-1])  # yours[t] = expected[t - 1]
    early = _Fit(fit.yours[:-1], fit.atol, fit.rtol)(expected[1:])  # yours[t] = expected[t + 1]
    if late or early:
        return Hint.plain(
            "yours is the expected sequence shifted by one step: is something one step late or "
            "early (an epoch or a time step counted from 0 instead of 1, an update applied "
            "before its step instead of after)?"
        )
    return None


def _off_by_one(fit: _Fit, expected: np.ndarray) -> Hint | None:
    if not (fit(expected + 1) or fit(expected - 1)):
        return None
    return Hint.plain(
        "yours is off by one: do you count from 0 where the count starts at 1 (or the other "
        "way), or include an end that should be left out?"
    )


def _transposed(fit: _Fit, expected: np.ndarray) -> Hint | None:
    if expected.ndim != 2 or expected.shape[0] != expected.shape[1] or not fit(expected.T):
        return None
    return TRANSPOSED


def _layout(fit: _Fit, expected: np.ndarray) -> Hint | None:
    """The right numbers in another shape or order: a reshape where a transpose was meant."""
    yours = fit.yours
    if yours.size != expected.size or expected.size < 2 or np.ptp(expected) == 0:
        return None
    if yours.shape != expected.shape:
        if expected.ndim == 2 and yours.shape == expected.shape[::-1] and fit(expected.T):
            return TRANSPOSED
        if fit(expected.reshape(yours.shape)):
            return Hint.plain(
                "yours holds the right numbers in the right order but in another shape: "
                "is a reshape (or a squeeze/keepdims) missing?"
            )
        return _permuted(fit, expected, "another shape")
    return _permuted(fit, expected, "other places")


def _permuted(fit: _Fit, expected: np.ndarray, where: str) -> Hint | None:
    """Same multiset of values in another order (sorted values match)."""
    mine = np.sort(fit.yours.ravel())
    theirs = np.sort(expected.ravel())
    if not _Fit(mine, fit.atol, fit.rtol)(theirs):
        return None
    if expected.ndim == 1 and where == "other places":
        return Hint.plain(
            "yours holds the right values in another order: is a sort key or direction wrong, "
            "or are the values matched to the wrong items?"
        )
    return Hint.plain(
        f"yours holds the right numbers, but in {where}: is an axis order wrong, e.g. a reshape "
        "where a transpose was meant ((N, C, H, W) vs. (N, H, W, C)), or rows matched to the "
        "wrong labels?"
    )


def _shift(yours: np.ndarray, expected: np.ndarray, fit: _Fit) -> Hint | None:
    """yours = expected + c (one constant), or + the same vector in every row."""
    if expected.size < 2 or np.ptp(expected) == 0:
        return None  # for a single number every wrong value is a shift
    diff = yours - expected
    if fit(expected + diff.mean()):
        return Hint.plain(
            "yours differs from the expected value by the same constant everywhere: is a "
            "constant term (a bias, a + 1, a margin) missing or extra?"
        )
    if expected.ndim >= 2 and expected.shape[0] >= 2 and fit(expected + diff.mean(axis=0)):
        return Hint.plain(
            "every row of yours differs from the expected row by the same vector: is a bias "
            "(added to every example) missing, extra or applied twice?"
        )
    return None


def _rows(fit: _Fit, expected: np.ndarray) -> Hint | None:
    """Right on most rows (examples) or, for a matrix, columns (classes), wrong on a few: an
    indexing or one-hot error. Only rows whose expected value is not ~0 count as right (a zero
    row is right by accident), and fewer than half may be wrong (else the error is everywhere)."""
    if expected.ndim < 2 or expected.shape[0] < 2:
        return None
    close = fit.close(expected).reshape(expected.shape[0], -1)
    zero = np.abs(expected).reshape(expected.shape[0], -1) <= fit.atol
    per = {"rows": (close.all(axis=1), zero.all(axis=1))}
    if expected.ndim == 2:
        per["columns"] = (close.all(axis=0), zero.all(axis=0))
    for name, (right, trivial) in per.items():
        wrong = np.flatnonzero(~right).tolist()
        if not (right & ~trivial).any() or not 0 < 2 * len(wrong) < right.size:
            continue
        shown = ", ".join(map(str, wrong[:8])) + (", ..." if len(wrong) > 8 else "")
        question = (
            f"what do those {name} have in common that the others lack (a label, a class, an "
            "index at an edge, a term active only there)?"
        )
        which = name if len(wrong) > 1 else name[:-1]  # 'rows 1, 4' or 'row 2'
        return Hint(
            f"yours is right on {int(right.sum())} of {right.size} {name} but not on {which} "
            f"{shown}: {question}",
            f"yours is right on most {name} and wrong on a few: {question}",
        )
    return None


REGULARISATION_MISTAKES: tuple[tuple[float, str], ...] = (
    (0.0, "is the regularisation term left out (your value fits lambda = 0)?"),
    (2.0, "is the regularisation term counted twice (your value fits 2 lambda)?"),
    (
        0.5,
        "does the regularisation term carry half its weight (your value fits lambda / 2): is "
        "the factor 2 of the derivative of lambda ||w||^2 lost, or a 1/2 added?",
    ),
)
"""lambda's factor -> the question when the reference computed with it fits the student's value."""


def regularisation_variants(
    reference: Callable[[float], Sequence[Any]], param_lambda: float
) -> list[list[Variant]]:
    """For each output of ``reference(param_lambda)`` (loss, gradients, ...), the variants of the
    regularisation mistakes: ``reference`` run with lambda left out, doubled and halved. None
    for lambda = 0, where every variant is the right value."""
    if not param_lambda:
        return []
    runs = [
        (reference(factor * param_lambda), question) for factor, question in REGULARISATION_MISTAKES
    ]
    return [
        [Variant(outputs[k], question) for outputs, question in runs]
        for k in range(len(runs[0][0]))
    ]


def softmax_variants(scores: np.ndarray) -> list[Variant]:
    """Likely mistakes in probabilities softmax(scores) (N, C): the scores themselves, their
    exponentials not normalised, the softmax taken down the columns."""
    scores = np.asarray(scores, dtype=np.float64)
    with np.errstate(over="ignore"):
        unnormalised = np.exp(scores)
    by_columns = torch.softmax(torch.from_numpy(scores), dim=0).numpy()  # torch's: no answer here
    return [
        Variant(scores, "are these the scores before the softmax (not yet probabilities)?"),
        Variant(unnormalised, "are the exponentials not yet divided by their row's sum?"),
        Variant(
            by_columns,
            "do your probabilities sum to 1 down each column (over the examples) instead of "
            "along each row (over the classes)?",
        ),
    ]


def swapped_variants(
    first: str, second: str, values: Mapping[str, Any]
) -> dict[str, list[Variant]]:
    """Two quantities easily swapped (recall and precision): each one's variant is the other."""
    question = "are {} and {} swapped (your {} fits the {})?"
    return {
        first: [Variant(values[second], question.format(first, second, first, second))],
        second: [Variant(values[first], question.format(first, second, second, first))],
    }
