"""dlcourse.check.diagnosis: each likely mistake gets its hint, and only that one; right values
and unrelated wrong ones get none."""

import numpy as np
import pytest

from dlcourse.check import Report, case_label, compare, hidden, start_case
from dlcourse.check.diagnosis import Hint, Variant, diagnose

RNG = np.random.default_rng(0)
EXPECTED = RNG.standard_normal((6, 4))  # e.g. a gradient for N=6 examples, 4 features
CASE = case_label(seed=3, N=6, D=4)


def _hint(yours, expected=EXPECTED, case=CASE, **kw) -> str | None:
    c = compare("grad_W", yours, expected, case=case, **kw)
    assert not c.ok, "a diagnosis is only made for a failed comparison"
    return c.hint.text if c.hint else None


def _shifted_rows() -> np.ndarray:
    return EXPECTED + np.array([0.5, -1.0, 0.25, 2.0])  # a bias vector added to every row


def _some_rows() -> np.ndarray:
    wrong = EXPECTED.copy()
    wrong[[1, 4]] = EXPECTED[[4, 1]]  # two examples' rows swapped: labels mismatched
    return wrong


def _some_columns() -> np.ndarray:
    wrong = EXPECTED.copy()
    wrong[:, 3] = 0  # the last class never a target
    return wrong


MISTAKES = {  # what the student did -> (their value, words the hint must contain)
    "sign flipped": (-EXPECTED, "sign flipped"),
    "summed, not averaged": (6 * EXPECTED, "6 times the expected value (6 = N in this case)"),
    "averaged twice": (EXPECTED / 6, "1/6 of the expected value"),
    "factor 2": (2 * EXPECTED, "factor 2"),
    "transposed (square)": (EXPECTED[:4].T, "transposed"),
    "transposed (shape)": (EXPECTED.T, "transposed"),
    "reshaped": (EXPECTED.reshape(4, 6), "in another shape"),
    "axes permuted": (EXPECTED.reshape(4, 6).T, "right numbers, but in other places"),
    "constant shift": (EXPECTED + 0.3, "same constant everywhere"),
    "bias in every row": (_shifted_rows(), "every row of yours differs"),
    "some rows": (_some_rows(), "right on 4 of 6 rows but not on rows 1, 4"),
    "some columns": (_some_columns(), "right on 3 of 4 columns but not on column 3"),
    "overflow": (np.where(EXPECTED > 1, np.inf, EXPECTED), "inf or nan"),
}


@pytest.mark.parametrize("mistake", MISTAKES)
def test_each_mistake_gets_its_hint_and_no_other(mistake):
    yours, words = MISTAKES[mistake]
    expected = EXPECTED[:4] if mistake == "transposed (square)" else EXPECTED
    hint = _hint(yours, expected)
    assert hint is not None and words in hint, hint
    others = {w for m, (_, w) in MISTAKES.items() if m != mistake and w not in words}
    assert not any(w in hint for w in others), hint


def test_hints_are_questions_not_code():
    for mistake, (yours, _) in MISTAKES.items():
        expected = EXPECTED[:4] if mistake == "transposed (square)" else EXPECTED
        hint = _hint(yours, expected)
        assert hint.rstrip(")").rstrip(".").endswith("?") or "?" in hint, hint
        assert "np." not in hint and "torch." not in hint and "=" not in hint.split("(")[0]


@pytest.mark.parametrize(
    "unrelated",
    [
        EXPECTED + 0.1 * RNG.standard_normal(EXPECTED.shape),  # noise everywhere
        RNG.standard_normal(EXPECTED.shape),  # another computation altogether
        np.zeros_like(EXPECTED),  # nothing computed
        EXPECTED**2,  # squared where plain was meant: no generic hint says so
        np.maximum(EXPECTED, 0),  # a ReLU where none belongs
    ],
)
def test_unrelated_wrong_values_get_no_hint(unrelated):
    assert _hint(unrelated) is None


def test_right_values_get_no_hint_and_hints_never_change_the_verdict():
    assert compare("grad_W", EXPECTED + 1e-9, EXPECTED, case=CASE).hint is None
    for yours, _ in MISTAKES.values():
        if yours.shape == EXPECTED.shape:
            c = compare("grad_W", yours, EXPECTED, case=CASE)
            plain = compare("grad_W", yours, EXPECTED, case=CASE, variants=())
            assert (c.ok, c.message) == (plain.ok, plain.message)


def test_rows_right_only_where_both_are_zero_or_wrong_on_most_rows_get_no_hint():
    sparse = EXPECTED * (np.arange(6) % 2)[:, None]  # rows 0, 2, 4 are zero (inactive)
    assert _hint(2.5 * sparse + 0.1 * (sparse != 0), sparse) is None
    mostly_wrong = EXPECTED.copy()
    mostly_wrong[:4] += 1.0
    mostly_wrong[:4, 0] -= 3.0
    assert _hint(mostly_wrong) is None


def test_integer_values_get_off_by_one_but_no_factor_or_sign():
    epochs = np.array(2)
    assert "off by one" in _hint(np.array(1), epochs)
    assert _hint(np.array(4), epochs) is None  # 2 x 2 by chance: no factor hint for counts
    counts = np.array([[3, 1], [0, 4]])
    assert "transposed" in _hint(counts.T, counts)


def test_a_zero_expected_value_gets_no_factor_or_sign_hint():
    zero = np.zeros((3, 2))
    assert diagnose(np.full((3, 2), 1e-3), zero, atol=1e-6, rtol=1e-5) is None


def test_a_checks_own_variant_comes_first_and_only_when_it_fits():
    no_reg = EXPECTED - 0.5  # e.g. the expected gradient without the regularisation term
    variant = Variant(no_reg, "is the regularisation term missing from your gradient?")
    assert "regularisation term missing" in _hint(no_reg, variants=[variant])
    assert _hint(-EXPECTED, variants=[variant]).startswith("yours is exactly the expected")


def test_a_factor_names_the_sizes_it_equals_only_in_visible_cases():
    assert "(6 = N in this case)" in _hint(6 * EXPECTED)
    assert "in this case" not in _hint(6 * EXPECTED, case="seed=6")  # a seed is no size
    assert "(4 = D in this case)" in _hint(4 * EXPECTED)


def test_hidden_cases_hint_what_fits_but_not_the_case_numbers():
    report, _ = start_case("t", ["grad_W"], hidden(1), points=2)
    report.add(compare("grad_W", 6 * EXPECTED, EXPECTED, case=case_label(seed=hidden(1), N=6)))
    report.add(compare("grad_W", _some_rows(), EXPECTED, case=case_label(seed=hidden(1), N=6)))
    text = str(report)
    assert "whole-number multiple of the expected value" in text
    assert "right on most rows and wrong on a few" in text
    assert "6" not in text.replace("hidden case 1", "") and "rows 1, 4" not in text
    assert report.points() == 0.0


def test_a_hint_is_printed_under_its_failed_line():
    report = Report("t", ["grad_W"], worth=1)
    report.add(compare("grad_W", -EXPECTED, EXPECTED, case=CASE))
    lines = str(report).splitlines()
    assert lines[1].startswith("  ✗ grad_W [seed=3, N=6, D=4]")
    assert lines[2].startswith("      ↳ yours is exactly the expected value with the sign")


def test_hint_plain_is_the_same_in_both_wordings():
    assert Hint.plain("why?") == Hint("why?", "why?")


def test_sequences_reversed_or_one_step_late_get_their_hints():
    schedule = np.array([0.1, 0.1, 0.01, 0.01, 0.001, 0.001, 1e-4])  # the course's, per epoch
    late = np.array([0.1, 0.1, 0.1, 0.01, 0.01, 0.001, 0.001])
    assert "shifted by one step" in _hint(late, schedule, case="seed=1")
    ranked = np.array([3.1, 2.7, 1.3, 0.6]) + np.pi / 100  # e.g. the worst images' losses
    assert "reverse order" in _hint(ranked[::-1], ranked, case="seed=1")
    assert "another order" in _hint(ranked[[1, 0, 3, 2]], ranked, case="seed=1")
    assert _hint(ranked * 1.3 + 0.2 * np.arange(4), ranked) is None
    counts = np.array([5, 3, 2, 7])  # a few small counts in another order: no guess
    assert _hint(counts[[1, 0, 3, 2]], counts, case="seed=1") is None


def test_swapped_variants_name_both_quantities():
    from dlcourse.check import swapped_variants

    likely = swapped_variants("recall", "precision", {"recall": 0.5, "precision": 0.75})
    c = compare("recall", 0.75, 0.5, variants=likely["recall"])
    assert c.hint.text == "are recall and precision swapped (your recall fits the precision)?"
