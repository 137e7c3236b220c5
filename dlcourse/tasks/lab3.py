"""Lab 3 (recurrent models): the graded checks, one per task (see docs/lab3-contract.md).

Every ``check_<task>(student, *, seed, ...)`` seeds ``random``/``np.random``/torch with ``seed``,
draws its inputs from ``np.random.default_rng(seed)``, calls the student's code only through
``call_student`` (an exception costs only that case; the instructors' references in
``autograder.reference.lab3``, where installed, and, for hand-derived gradients, autograd are
forbidden), compares each quantity with an independent oracle and prints the report.

Oracles: PyTorch's ``nn.RNN`` in float64, and autograd through it with a random upstream gradient,
for the NumPy RNN; ``clip_grad_norm_`` and scikit-learn where the student may not use them.
Where the only oracle would be the task's own code (the vocabulary, the dataset, padding, the
models' logits, a training epoch) the expected values come from the references through
``dlcourse.reference.expected``: computed where the references are installed (the grader, the
instructors), the control outputs recorded when the handout was built elsewhere (its visible
cases). The models are graded with weights the check loads into them, so the comparison does not
depend on their random initialisation.

Tasks that build on another are graded on their own where the references are installed:
``rnn_forward`` and ``rnn_backward`` run with the reference ``rnn_step_forward`` (and
``rnn_forward``), ``NLPDataset`` with the reference ``Vocab``. In the student handout they run on
the student's own earlier functions, as the notebook does: a bug there can cost points here too.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import re
from collections import Counter
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score
from torch import nn
from torch.func import functional_call

from dlcourse import reference as references
from dlcourse.check import (
    AUTOGRAD,
    Comparison,
    Hint,
    Report,
    Variant,
    autograd_reference,
    call_student,
    case_label,
    case_starter,
    compare,
    isolate,
    show,
    upstream_gradient,
    verdict,
)
from dlcourse.data.sst import LABELS, PAD, UNK, split_path
from dlcourse.rnn import GRADIENTS
from dlcourse.sentiment import CELLS

TASKS: dict[str, int] = {
    "rnn_step_forward": 2,
    "rnn_forward": 2,
    "rnn_backward": 7,
    "clip_gradients": 2,
    "vocab": 6,
    "nlp_dataset": 3,
    "pad_collate_fn": 3,
    "load_embedding": 4,
    "baseline_model": 3,
    "recurrent_model": 3,
    "train_epoch": 2,
    "evaluate": 4,
}
"""Task id -> points: the one place they are declared (``dlcourse.tasks``)."""

BONUS: frozenset[str] = frozenset()
"""No bonus task in this lab."""

QUESTIONS: dict[str, int] = {
    "q_sst_seed_spread": 2,
    "q_sst_cell_types": 2,
    "q_sst_pretrained_vectors": 2,
    "q_sst_hyperparameters": 2,
    "q_sst_gradient_clipping": 2,
}
"""Question id -> points of its written answer, graded by hand (``dlcourse.tasks``)."""

QUANTITIES: dict[str, tuple[str, ...]] = {
    "rnn_step_forward": ("h_next",),
    "rnn_forward": ("h",),
    "rnn_backward": ("W_xh", "W_hh", "b_h", "W_hy", "b_y", "x", "h0"),
    "clip_gradients": ("clipped", "unchanged"),
    "vocab": ("specials", "order", "max_size", "min_freq", "encode", "control"),
    "nlp_dataset": ("length", "items", "vocab"),
    "pad_collate_fn": ("texts", "labels", "lengths"),
    "load_embedding": ("known", "unknown", "padding", "frozen"),
    "baseline_model": ("logits", "padding", "parameters"),
    "recurrent_model": ("logits", "padding", "parameters"),
    "train_epoch": ("loss", "clipping"),
    "evaluate": ("loss", "accuracy", "f1", "confusion_matrix"),
}
"""Task id -> the quantities graded (each one an equal share of the task's points)."""

CONTROL_WORDS = ("the", "a", "and", "my", "twists", "lets", "sports", "amateurishly")
"""Words whose indices in the train vocabulary are the course's control outputs."""
CONTROL_INSTANCE = 3
"""Index of the train instance whose encoding is a control output."""

LAB = "lab3"
_RNN_TASKS = ("rnn_step_forward", "rnn_forward", "rnn_backward", "global_norm", "clip_gradients")
_DATA_TASKS = (
    "Vocab",
    "NLPDataset",
    "pad_collate_fn",
    "load_embedding",
    "read_instances",
    "parse_line",
    "token_frequencies",
    "datasets",
)
_METRICS = (accuracy_score, confusion_matrix, f1_score)  # the oracles: they would do the task
_MODEL_TOLERANCE = dict(atol=1e-5, rtol=1e-4)  # float32 models against a float64 reference
_LABELS_SWAPPED = (
    "is yours the other label? The course's label vocabulary numbers positive 0, negative 1 "
    "(LABELS)"
)
_PADDING_HINT = Hint.plain(
    "your logits are right without padding but not with it: do the padded positions count, "
    "in the mean or as steps of the RNN? The lengths say which positions are words (pack the "
    "sequence or mask)"
)


# ----------------------------------------------------------------------------- shared steps

_start = case_starter(QUANTITIES, TASKS)


def _reference(name: str) -> Any | None:
    """The instructors' reference ``name`` of this lab, or None where not installed."""
    return references.reference(LAB, name)


def _expected(key: str, compute: Callable[[], Any]) -> Any:
    """``compute()`` with the references (the grader), else the control output of ``key``."""
    return references.expected(LAB, key, compute)


def _forbidden(fn: Any, names: tuple[str, ...], *others: Any) -> tuple[Any, ...]:
    """What ``fn`` must not call: ``others`` and the named references where installed (a local
    hint: a grader's call watches nothing, its rules are checked on the source)."""
    return references.installed(LAB, names) + others


def _substitutes(*names: str) -> dict[str, Any]:
    """name -> reference for ``isolate``, for the references installed (none in the handout,
    where a task runs on the student's own earlier functions)."""
    found = {name: _reference(name) for name in names}
    return {name: r for name, r in found.items() if r is not None}


def _but(names: tuple[str, ...], *substituted: str) -> tuple[str, ...]:
    """``names`` without those substituted for the student's (calling them is allowed)."""
    return tuple(name for name in names if name not in substituted)


def _tensor_problem(what: str, x: Any, *, integer: bool) -> str | None:
    """Why x is not a torch tensor of integers (int64) / of floats, or None."""
    if not isinstance(x, torch.Tensor):
        return f"{what} is a {type(x).__name__}; expected a torch tensor"
    if integer and x.dtype != torch.long:
        return f"{what} has dtype {x.dtype}; expected torch.int64 (torch.long)"
    if not integer and not x.is_floating_point():
        return f"{what} has dtype {x.dtype}; expected floating point values"
    return None


def _compare_tensor(
    quantity: str,
    yours: Any,
    expected: torch.Tensor,
    case: str,
    variants: tuple[Variant, ...] = (),
    **tolerance: float,
) -> Comparison:
    """compare() for a quantity that must be a torch tensor (int64 for integer references);
    float tensors are compared in float64 (models compute in float32)."""
    integer = not expected.is_floating_point()
    problem = _tensor_problem(quantity, yours, integer=integer)
    if problem:
        return verdict(quantity, False, problem, case=case)
    if integer:
        return compare(quantity, yours, expected, case=case, variants=variants, **tolerance)
    return compare(quantity, yours.detach().double(), expected.double(), case=case, **tolerance)


def _as_float(x: Any) -> Any:
    """A one-element float tensor or numpy value as a python float (float32 losses are fine);
    else x."""
    if isinstance(x, torch.Tensor):
        return float(x) if x.numel() == 1 and x.is_floating_point() else x
    if isinstance(x, (np.ndarray, np.generic)):
        return float(x) if x.size == 1 and x.dtype.kind == "f" else x
    return x


def _words_problem(itos: Any, expected: list[str]) -> str | None:
    """Why the words of a vocabulary, ``itos[2:]``, differ from ``expected[2:]`` (the first
    difference), or None; the special symbols are the 'specials' quantity's business."""
    if not isinstance(itos, (list, tuple)) or not all(isinstance(t, str) for t in itos):
        return f"itos is {type(itos).__name__}; expected a list of str"
    for i in range(2, min(len(itos), len(expected))):
        if itos[i] != expected[i]:
            return f"itos[{i}] is {itos[i]!r}, expected {expected[i]!r}"
    if len(itos) != len(expected):
        return f"itos has {len(itos)} entries, expected {len(expected)}"
    return None


def _attribute(report: Report, case: str, obj: Any, name: str, quantities: list[str]) -> Any:
    """obj.<name> (a student's method or data), or None after failing the quantities."""
    try:
        return getattr(obj, name)
    except Exception as exc:  # a missing attribute, or a property that raised
        report.fail(
            quantities,
            case,
            f"{type(obj).__name__}.{name} is missing ({type(exc).__name__}: {exc})",
        )
        return None


# ----------------------------------------------------------------------------- part 0: numpy RNN


def _states_torch(
    x: torch.Tensor, h0: torch.Tensor, W_xh: torch.Tensor, W_hh: torch.Tensor, b_h: torch.Tensor
) -> torch.Tensor:
    """All states (N, T, H) computed by PyTorch's own ``nn.RNN`` (tanh) with the lab's weights.

    ``nn.RNN`` computes tanh(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh): the lab's weights go in
    transposed, its one bias as b_ih (b_hh zero). Gradients flow back to every argument. cuDNN is
    off: float64 on any device, and no warning about weights outside one block of memory.
    """
    rnn = nn.RNN(W_xh.shape[0], W_xh.shape[1], batch_first=True).to(x)
    weights = {
        "weight_ih_l0": W_xh.T,
        "weight_hh_l0": W_hh.T,
        "bias_ih_l0": b_h,
        "bias_hh_l0": torch.zeros_like(b_h),
    }
    with torch.backends.cudnn.flags(enabled=False):
        states, _ = functional_call(rnn, weights, (x, h0[None]))
    return states  # (N, T, H)


def _step_torch(
    x: torch.Tensor, h_prev: torch.Tensor, W_xh: torch.Tensor, W_hh: torch.Tensor, b_h: torch.Tensor
) -> torch.Tensor:
    """One step, (N, H): ``nn.RNN`` over a sequence of length 1."""
    return _states_torch(x[:, None], h_prev, W_xh, W_hh, b_h)[:, 0]


def _states_without_future(
    x: torch.Tensor, h0: torch.Tensor, W_xh: torch.Tensor, W_hh: torch.Tensor, b_h: torch.Tensor
) -> torch.Tensor:
    """The states (N, T, H) as a BPTT that drops the gradient from step t + 1 sees them: each
    state's predecessor is a constant (detached), except h0, so h_t learns only from its own
    output. Steps by ``nn.RNN`` (``_step_torch``): no hand-written step in the handout."""
    h_prev, states = h0, []
    for t in range(x.shape[1]):
        h_prev = _step_torch(x[:, t], h_prev, W_xh, W_hh, b_h)  # (N, H)
        states.append(h_prev)
        h_prev = h_prev.detach()
    return torch.stack(states, dim=1)


def _logits_torch(
    x: torch.Tensor,
    h0: torch.Tensor,
    W_xh: torch.Tensor,
    W_hh: torch.Tensor,
    b_h: torch.Tensor,
    W_hy: torch.Tensor,
    b_y: torch.Tensor,
    *,
    dense: bool,
    states: Callable[..., torch.Tensor] = _states_torch,
) -> torch.Tensor:
    """The given output layer on every state (``dense``) or the last; ``states``: the RNN's
    states from (x, h0, W_xh, W_hh, b_h), by default PyTorch's."""
    h = states(x, h0, W_xh, W_hh, b_h)
    return (h if dense else h[:, -1]) @ W_hy + b_y  # (N, T, C) or (N, C)


_NO_FUTURE = (
    "do your gradients miss what flows back from later time steps (each step's own output "
    "only, as if BPTT stopped after one step)? dL/dh_t also gets dL/dh_(t+1) through W_hh"
)


def _rnn_weights(
    rng: np.random.Generator, D: int, H: int, C: int | None = None
) -> dict[str, np.ndarray]:
    """Random weights scaled by 1/sqrt(fan-in), so that tanh is not saturated."""
    weights = dict(
        W_xh=rng.standard_normal((D, H)) / np.sqrt(D),
        W_hh=rng.standard_normal((H, H)) / np.sqrt(H),
        b_h=0.5 * rng.standard_normal(H),
    )
    if C is not None:
        weights.update(W_hy=rng.standard_normal((H, C)) / np.sqrt(H), b_y=rng.standard_normal(C))
    return weights


def check_rnn_step_forward(
    fn: Any, *, seed: int, N: int, D: int, H: int, scale: float = 1.0
) -> Report:
    """h_next = fn(x, h_prev, W_xh, W_hh, b_h), (N, H), against torch; ``scale`` multiplies x."""
    report, rng = _start("rnn_step_forward", seed)
    case = case_label(seed=seed, N=N, D=D, H=H, scale=None if scale == 1 else scale)
    inputs = dict(
        x=scale * rng.standard_normal((N, D)),
        h_prev=np.tanh(rng.standard_normal((N, H))),
        **_rnn_weights(rng, D, H),
    )
    ok, h_next = call_student(
        report,
        case,
        fn,
        *inputs.values(),
        name="rnn_step_forward",
        forbidden=_forbidden(fn, _RNN_TASKS),
    )
    if ok:
        expected = autograd_reference(_step_torch, inputs, [])[0]
        report.add(compare("h_next", h_next, expected, case=case))
    return show(report)


def check_rnn_forward(fn: Any, *, seed: int, N: int, T: int, D: int, H: int) -> Report:
    """h = fn(x, h0, W_xh, W_hh, b_h), all states (N, T, H), against torch. Runs with the
    reference ``rnn_step_forward`` where installed (the grader), else with the student's own."""
    report, rng = _start("rnn_forward", seed)
    case = case_label(seed=seed, N=N, T=T, D=D, H=H)
    inputs = dict(
        x=rng.standard_normal((N, T, D)),
        h0=np.tanh(rng.standard_normal((N, H))),
        **_rnn_weights(rng, D, H),
    )
    substitutes = _substitutes("rnn_step_forward")
    with isolate(fn, **substitutes):
        ok, h = call_student(
            report,
            case,
            fn,
            *inputs.values(),
            name="rnn_forward",
            forbidden=_forbidden(fn, _but(_RNN_TASKS, *substitutes)),
        )
    if ok:
        report.add(compare("h", h, autograd_reference(_states_torch, inputs, [])[0], case=case))
    return show(report)


def check_rnn_backward(
    fn: Any, *, seed: int, N: int, T: int, D: int, H: int, C: int, dense: bool
) -> Report:
    """grads = fn(d_logits, x, h0, h, W_xh, W_hh, W_hy), a dict of dL/dW_xh, ..., dL/dh0,
    against autograd of the RNN's logits (per step when ``dense``, else the last step's) with a
    random upstream gradient d_logits; the states h are torch's. Runs with the references as
    ``rnn_step_forward``/``rnn_forward`` where installed, else with the student's own."""
    report, rng = _start("rnn_backward", seed)
    case = case_label(seed=seed, N=N, T=T, D=D, H=H, C=C, output="dense" if dense else "last")
    inputs = dict(
        x=rng.standard_normal((N, T, D)),
        h0=np.tanh(rng.standard_normal((N, H))),
        **_rnn_weights(rng, D, H, C),
    )
    state_inputs = {k: inputs[k] for k in ("x", "h0", "W_xh", "W_hh", "b_h")}
    h = autograd_reference(_states_torch, state_inputs, [])[0]
    d_logits = upstream_gradient((N, T, C) if dense else (N, C), seed)
    _, expected = autograd_reference(
        partial(_logits_torch, dense=dense), inputs, GRADIENTS, grad_out=d_logits
    )
    _, no_future = autograd_reference(
        partial(_logits_torch, dense=dense, states=_states_without_future),
        inputs,
        GRADIENTS,
        grad_out=d_logits,
    )
    substitutes = _substitutes("rnn_step_forward", "rnn_forward")
    forbidden = _forbidden(fn, _but(_RNN_TASKS, *substitutes), *AUTOGRAD)
    with isolate(fn, **substitutes):
        ok, grads = call_student(
            report,
            case,
            fn,
            d_logits,
            inputs["x"],
            inputs["h0"],
            h,
            inputs["W_xh"],
            inputs["W_hh"],
            inputs["W_hy"],
            name="rnn_backward",
            forbidden=forbidden,
        )
    if ok and not isinstance(grads, dict):
        report.fail(
            report.quantities,
            case,
            f"rnn_backward returned a {type(grads).__name__}; "
            f"expected a dict with keys {list(GRADIENTS)}",
        )
    elif ok:
        for name in report.quantities:
            if name not in grads:
                report.add(verdict(name, False, f"the result has no key {name!r}", case=case))
            else:
                likely = [Variant(no_future[name], _NO_FUTURE)]
                report.add(compare(name, grads[name], expected[name], case=case, variants=likely))
    return show(report)


def _clip_oracle(grads: dict[str, np.ndarray], max_norm: float) -> dict[str, np.ndarray]:
    tensors = {k: torch.tensor(g, dtype=torch.float64) for k, g in grads.items()}
    for t in tensors.values():
        t.grad = t.clone()
    nn.utils.clip_grad_norm_(list(tensors.values()), max_norm)
    return {k: t.grad.numpy() for k, t in tensors.items()}


def check_clip_gradients(fn: Any, *, seed: int, D: int, H: int, max_norm: float) -> Report:
    """fn(grads, max_norm) for a dict of gradients (W_xh, W_hh, b_h): 'clipped' when their global
    norm is 2-10 times max_norm, 'unchanged' when it is below; against clip_grad_norm_."""
    report, rng = _start("clip_gradients", seed)
    case = case_label(seed=seed, D=D, H=H, max_norm=max_norm)
    grads = _rnn_weights(rng, D, H)
    norm = float(nn.utils.get_total_norm([torch.as_tensor(g) for g in grads.values()]))
    forbidden = _forbidden(fn, _RNN_TASKS, nn.utils.clip_grad_norm_, nn.utils.get_total_norm)
    for quantity, target in (
        ("clipped", rng.uniform(2, 10) * max_norm),
        ("unchanged", rng.uniform(0.2, 0.9) * max_norm),
    ):
        given = {k: g * target / norm for k, g in grads.items()}
        ok, out = call_student(
            report,
            case,
            fn,
            given,
            max_norm,
            name="clip_gradients",
            quantities=[quantity],
            forbidden=forbidden,
        )
        if ok and not isinstance(out, dict):
            report.fail(
                [quantity],
                case,
                f"clip_gradients returned a {type(out).__name__}; "
                "expected a dict like the one it was given",
            )
        elif ok:
            expected = _clip_oracle(given, max_norm)
            for k, ref in expected.items():
                report.add(compare(quantity, out.get(k), ref, case=f"{case}, grads[{k!r}]"))
    return show(report)


# ----------------------------------------------------------------------------- part 1: data


def _made_up_words(rng: np.random.Generator, n_words: int) -> list[str]:
    """n_words distinct made-up lower-case words of 2-8 letters, in a random order."""
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    words: dict[str, None] = {}
    while len(words) < n_words:
        words["".join(rng.choice(letters, rng.integers(2, 9)))] = None
    return list(words)


def _random_frequencies(rng: np.random.Generator, n_words: int, min_freq: int) -> Counter[str]:
    """n_words made-up words with counts 1..6 (many ties), in a random order; one word has
    exactly ``min_freq`` occurrences (the boundary case) when min_freq > 0."""
    words = _made_up_words(rng, n_words)
    counts = rng.integers(1, 7, n_words)
    if min_freq > 0:
        counts[rng.integers(n_words)] = min_freq
    return Counter(dict(zip(words, counts.tolist())))


# the references' reading of the real files (installed only where the references are)


@functools.lru_cache(maxsize=3)
def _instances(split: str) -> list[Any]:
    return _reference("read_instances")(split_path(split))


@functools.lru_cache(maxsize=4)
def _train_vocab(max_size: int = -1) -> Any:
    frequencies = _reference("token_frequencies")(_instances("train"))
    return _reference("Vocab")(frequencies, max_size=max_size)


def _train_frequencies() -> Counter[str]:
    """Token -> count on the real train file, in order of first appearance: the input of the
    course's control outputs. Recorded for the handout too, which has no reader of the files
    (reading them is part of the task NLPDataset), as two space-separated strings: the smallest
    of the handout's control outputs that keeps their order (tokens hold no whitespace)."""

    def compute() -> tuple[str, str]:
        frequencies = _reference("token_frequencies")(_instances("train"))
        return " ".join(frequencies), " ".join(map(str, frequencies.values()))

    words, counts = _expected("vocab/control/frequencies", compute)
    return Counter(dict(zip(words.split(" "), map(int, counts.split(" ")))))


def _student_vocab(
    report: Report, case: str, Vocab: Any, quantity: str, frequencies: Counter[str], **kwargs: int
) -> Any:
    """A student's Vocab(frequencies, **kwargs), or None after recording the failure."""
    ok, vocab = call_student(
        report,
        case,
        Vocab,
        frequencies,
        **kwargs,
        name="Vocab",
        quantities=[quantity],
        forbidden=_forbidden(Vocab, _DATA_TASKS),
    )
    return vocab if ok else None


def _specials_problem(vocab: Any) -> str | None:
    itos, stoi = getattr(vocab, "itos", None), getattr(vocab, "stoi", None)
    if not isinstance(itos, list) or not isinstance(stoi, dict):
        return "Vocab needs attributes itos (a list) and stoi (a dict)"
    if itos[:2] != [PAD, UNK]:
        return f"itos starts with {itos[:2]}; expected ['<PAD>', '<UNK>']"
    wrong = [(token, stoi.get(token)) for i, token in enumerate(itos) if stoi.get(token) != i]
    if wrong or len(stoi) != len(itos):
        detail = f"stoi[{wrong[0][0]!r}] is {wrong[0][1]}" if wrong else f"{len(stoi)} entries"
        return f"stoi must invert itos (stoi[itos[i]] == i for every i): {detail}"
    return None


def check_vocab(Vocab: Any, *, seed: int, n_words: int, max_size: int, min_freq: int) -> Report:
    """Vocab(frequencies, max_size=-1, min_freq=0) on made-up counts (ties included) against the
    reference: 'specials' (<PAD> 0, <UNK> 1, stoi inverts itos), 'order' (itos by decreasing
    count, ties in the order of ``frequencies``), 'max_size', 'min_freq', 'encode' (an int64
    tensor, unknown tokens -> 1); 'control': the course's control outputs on the real train file
    (size 14806, the=2, ..., amateurishly=6818, train instance 3)."""
    report, rng = _start("vocab", seed)
    case = case_label(seed=seed, n_words=n_words)
    key = "vocab/" + case_label(seed=seed, n_words=n_words, max_size=max_size, min_freq=min_freq)
    frequencies = _random_frequencies(rng, n_words, min_freq)
    limits = {"order": {}, "max_size": dict(max_size=max_size), "min_freq": dict(min_freq=min_freq)}
    # every expected value first, also where the student's code fails: recording the controls
    expected = {
        quantity: _expected(
            f"{key}/{quantity}",
            lambda kwargs=kwargs: _reference("Vocab")(frequencies, **kwargs).itos,
        )
        for quantity, kwargs in limits.items()
    }
    known = [str(word) for word in rng.choice(list(frequencies), 6)]
    tokens = known[:3] + ["<never-seen>"] + known[3:] + ["qqqqqqqqqq"]
    encoded = _expected(f"{key}/encode", lambda: _reference("Vocab")(frequencies).encode(tokens))
    control = _control_outputs()
    student = partial(_student_vocab, report, case, Vocab)
    vocab = student("specials", frequencies)
    if vocab is not None:
        problem = _specials_problem(vocab)
        report.add(
            verdict(
                "specials",
                problem is None,
                problem or "<PAD> = 0, <UNK> = 1, stoi inverts itos",
                case=case,
            )
        )
    for quantity, kwargs in limits.items():
        mine = student(quantity, frequencies, **kwargs)
        if mine is not None:
            label = case_label(case=case, **kwargs).removeprefix("case=")
            problem = _words_problem(getattr(mine, "itos", None), expected[quantity])
            report.add(
                verdict(
                    quantity,
                    problem is None,
                    problem or "the words of itos as expected",
                    case=label,
                )
            )
    if vocab is not None:
        _check_encode(report, f"{case}, tokens={tokens}", vocab, tokens, encoded)
    else:
        report.fail(["encode"], case, "not checked: Vocab(frequencies) failed (see specials)")
    _check_control(report, Vocab, control)
    return show(report)


def _check_encode(
    report: Report, case: str, vocab: Any, tokens: list[str], expected: torch.Tensor
) -> None:
    encode = _attribute(report, case, vocab, "encode", ["encode"])
    ok, encoded = (
        (False, None)
        if encode is None
        else call_student(
            report,
            case,
            encode,
            tokens,
            name="Vocab.encode",
            quantities=["encode"],
            forbidden=_forbidden(vocab, _DATA_TASKS),
        )
    )
    if ok:
        report.add(_compare_tensor("encode", encoded, expected, case=case))


def _control_outputs() -> dict[str, Any]:
    """The course's control outputs: the train vocabulary's size, the indices of CONTROL_WORDS,
    and train instance CONTROL_INSTANCE's tokens and encoding."""

    def compute() -> dict[str, Any]:
        vocab, text = _train_vocab(), _instances("train")[CONTROL_INSTANCE].text
        return {
            "size": len(vocab.itos),
            "stoi": {word: vocab.stoi[word] for word in CONTROL_WORDS},
            "text": list(text),
            "encoded": vocab.encode(text),
        }

    return _expected("vocab/control/outputs", compute)


def _check_control(report: Report, Vocab: Any, control: dict[str, Any]) -> None:
    """The course's control outputs (``_control_outputs``) on the real train file."""
    case = "train file"
    ok, vocab = call_student(
        report,
        case,
        Vocab,
        _train_frequencies(),
        name="Vocab",
        quantities=["control"],
        forbidden=_forbidden(Vocab, _DATA_TASKS),
    )
    if not ok:
        return
    itos, stoi = getattr(vocab, "itos", None), getattr(vocab, "stoi", None)
    if not isinstance(itos, list) or not isinstance(stoi, dict):
        report.fail(["control"], case, "Vocab needs attributes itos (a list) and stoi (a dict)")
        return
    problems = (
        []
        if len(itos) == control["size"]
        else [f"len(itos) is {len(itos)}, expected {control['size']}"]
    )
    problems += [
        f"stoi[{word!r}] is {stoi.get(word)}, expected {index}"
        for word, index in control["stoi"].items()
        if stoi.get(word) != index
    ]
    found = f"{len(itos)} entries; " + ", ".join(f"{w}={stoi[w]}" for w in CONTROL_WORDS)
    report.add(verdict("control", not problems, "; ".join(problems[:3]) or found, case=case))
    encode = _attribute(report, case, vocab, "encode", ["control"])
    ok, encoded = (
        (False, None)
        if encode is None
        else call_student(
            report,
            case,
            encode,
            control["text"],
            name="Vocab.encode",
            quantities=["control"],
            forbidden=_forbidden(vocab, _DATA_TASKS),
        )
    )
    if ok:
        report.add(
            _compare_tensor(
                "control",
                encoded,
                control["encoded"],
                case=f"{case}, encode(train instance {CONTROL_INSTANCE})",
            )
        )


def _expected_item(split: str, max_size: int, index: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(text, label) of ``split``'s instance ``index`` numericalised with the train vocabulary
    of ``max_size`` entries."""

    def compute() -> tuple[torch.Tensor, torch.Tensor]:
        instance = _instances(split)[index]
        return _train_vocab(max_size).encode(instance.text), torch.tensor(LABELS[instance.label])

    limit = "" if max_size == -1 else f", max_size={max_size}"
    return _expected(f"nlp_dataset/{split}{limit}/{index}", compute)


def check_nlp_dataset(
    NLPDataset: Any, *, seed: int, n_items: int, other_split: str = "valid", max_size: int = -1
) -> Report:
    """On the real files: 'length' and 'items' of NLPDataset.from_file(train, max_size=...)
    (len, and dataset[i] = (text int64 tensor of the indices in the vocabulary built on train,
    label () int64 with positive 0 / negative 1) for ``n_items`` random i and the control
    instance 3); 'vocab': the same for NLPDataset.from_file(<other_split>, vocab=<train
    vocabulary>). Runs with the reference Vocab where installed (the grader), which also gives
    the train vocabulary; in the handout with the student's own Vocab and the train dataset's."""
    report, rng = _start("nlp_dataset", seed)
    case = case_label(seed=seed, max_size=None if max_size == -1 else max_size)
    lengths = {
        split: _expected(f"nlp_dataset/{split}/length", lambda split=split: len(_instances(split)))
        for split in ("train", other_split)
    }
    indices = {
        "train": sorted({CONTROL_INSTANCE, *rng.integers(lengths["train"], size=n_items)}),
        other_split: sorted(rng.integers(lengths[other_split], size=n_items)),
    }
    # every expected value first, also where the student's code fails: recording the controls
    items = {
        split: {int(i): _expected_item(split, max_size, int(i)) for i in chosen}
        for split, chosen in indices.items()
    }
    from_file = _attribute(report, case, NLPDataset, "from_file", list(report.quantities))
    if from_file is None:
        return show(report)
    substitutes = _substitutes("Vocab")
    student = partial(
        call_student,
        report,
        name="NLPDataset.from_file",
        forbidden=_forbidden(NLPDataset, _but(_DATA_TASKS, *substitutes)),
    )
    with isolate(NLPDataset, **substitutes):
        kwargs = {} if max_size == -1 else dict(max_size=max_size)
        ok, train = student(
            f"{case}, train",
            from_file,
            str(split_path("train")),
            **kwargs,
            quantities=["length", "items"],
        )
        if ok:
            _check_items(
                report,
                f"{case}, train",
                train,
                ("length", "items"),
                lengths["train"],
                items["train"],
            )
        split_case = f"{case}, {other_split} with the train vocabulary"
        if substitutes:
            vocab = _train_vocab(max_size)
        elif ok:  # the handout: the student's train vocabulary
            vocab = _attribute(report, split_case, train, "vocab", ["vocab"])
        else:
            vocab = None
            report.fail(["vocab"], split_case, "not checked: needs the train dataset's vocabulary")
        if vocab is None:
            return show(report)
        ok, other = student(
            split_case, from_file, str(split_path(other_split)), vocab=vocab, quantities=["vocab"]
        )
        if ok:
            _check_items(
                report,
                split_case,
                other,
                ("vocab", "vocab"),
                lengths[other_split],
                items[other_split],
            )
    return show(report)


def _check_items(
    report: Report,
    case: str,
    dataset: Any,
    quantities: tuple[str, str],
    length: int,
    items: dict[int, tuple[torch.Tensor, torch.Tensor]],
) -> None:
    """len(dataset) against ``length`` (quantities[0]) and dataset[i] against each of ``items``
    (quantities[1])."""
    length_q, items_q = quantities
    length_fn = _attribute(report, case, dataset, "__len__", [length_q])
    ok, mine = (
        (False, None)
        if length_fn is None
        else call_student(report, case, length_fn, name="NLPDataset.__len__", quantities=[length_q])
    )
    if ok:
        report.add(compare(length_q, mine, length, case=f"{case}, len"))
    getitem = _attribute(report, case, dataset, "__getitem__", [items_q])
    for i, (text, label) in items.items() if getitem is not None else []:
        ok, item = call_student(
            report, case, getitem, i, name="NLPDataset.__getitem__", quantities=[items_q], outputs=2
        )
        if ok:
            report.add(
                _compare_tensor(items_q, item[0], text, case=f"{case}, dataset[{i}][0] (text)")
            )
            report.add(
                _compare_tensor(
                    items_q,
                    item[1],
                    label,
                    case=f"{case}, dataset[{i}][1] (label {int(label)})",
                    variants=(Variant(1 - label, _LABELS_SWAPPED),),
                )
            )


def check_pad_collate_fn(fn: Any, *, seed: int, B: int, max_len: int, pad_index: int = 0) -> Report:
    """(texts (B, max_len), labels (B,), lengths (B,)) = fn(batch[, pad_index=...]) for B random
    (text, label) pairs of lengths 1..max_len, against the reference."""
    report, rng = _start("pad_collate_fn", seed)
    case = case_label(seed=seed, B=B, max_len=max_len, pad_index=pad_index or None)
    lengths = rng.integers(1, max_len + 1, B)
    lengths[rng.integers(B)] = max_len
    batch = [
        (torch.as_tensor(rng.integers(2, 100, n)), torch.tensor(int(rng.integers(2))))
        for n in lengths
    ]
    expected = _expected(
        f"pad_collate_fn/{case}", lambda: _reference("pad_collate_fn")(batch, pad_index=pad_index)
    )
    kwargs = dict(pad_index=pad_index) if pad_index else {}
    ok, out = call_student(
        report,
        case,
        fn,
        batch,
        **kwargs,
        name="pad_collate_fn",
        outputs=3,
        forbidden=_forbidden(fn, _DATA_TASKS),
    )
    if ok:
        for quantity, mine, ref in zip(report.quantities, out, expected):
            report.add(_compare_tensor(quantity, mine, ref, case))
    return show(report)


@dataclasses.dataclass
class GivenVocab:
    """The vocabulary ``check_load_embedding`` hands to students: the attributes load_embedding
    reads (``itos``, and ``stoi`` its inverse), so that the task is graded on its own."""

    itos: list[str]
    stoi: dict[str, int] = dataclasses.field(init=False)

    def __post_init__(self) -> None:
        self.stoi = {token: index for index, token in enumerate(self.itos)}


def _embedding_values(emb: Any) -> tuple[torch.Tensor | None, str]:
    """(weights as a float64 tensor, '') of an nn.Embedding-like result, or (None, why not)."""
    weight = getattr(emb, "weight", None)
    if weight is None or not hasattr(emb, "padding_idx"):
        return None, f"load_embedding returned a {type(emb).__name__}; expected an nn.Embedding"
    values = weight.detach().cpu()
    if not values.is_floating_point():
        return None, f"the weights have dtype {values.dtype}; expected floats"
    return values.double(), ""


def check_load_embedding(
    fn: Any, *, seed: int, n_words: int, dim: int, with_vectors: bool = True
) -> Report:
    """emb = fn(vocab, vectors) (or fn(vocab, dim=dim) without vectors) for a GivenVocab of
    ``n_words`` made-up words: 'known' (shape (V, d); rows of words with a vector equal it),
    'unknown' (the other rows but <UNK> look N(0, 1)), 'padding' (rows 0 and 1, <PAD> and
    <UNK>, zeros; padding_idx 0), 'frozen'."""
    report, rng = _start("load_embedding", seed)
    case = case_label(seed=seed, n_words=n_words, dim=dim, vectors=None if with_vectors else "None")
    vocab = GivenVocab([PAD, UNK] + _made_up_words(rng, n_words))
    extra = _made_up_words(rng, 5)  # words with vectors that are not in the vocabulary
    vectors = (
        {
            word: rng.standard_normal(dim).astype(np.float32)
            for word in vocab.itos[2:] + extra
            if rng.random() < 0.6
        }
        if with_vectors
        else None
    )
    args = (vocab, vectors) if with_vectors else (vocab,)
    kwargs = {} if with_vectors else dict(dim=dim)
    ok, emb = call_student(
        report,
        case,
        fn,
        *args,
        **kwargs,
        name="load_embedding",
        forbidden=_forbidden(fn, _DATA_TASKS),
    )
    if not ok:
        return show(report)
    values, problem = _embedding_values(emb)
    if values is None:
        report.fail(report.quantities, case, problem)
        return show(report)
    shape = (len(vocab.itos), dim)
    if tuple(values.shape) != shape:
        report.fail(
            ["known", "unknown", "padding"],
            case,
            f"the weights have shape "
            f"{tuple(values.shape)}, expected {shape} (vocabulary size, vector size)",
        )
    else:
        _check_rows(report, case, values, vocab, vectors or {}, getattr(emb, "padding_idx", None))
    frozen = not emb.weight.requires_grad
    report.add(
        verdict(
            "frozen",
            frozen,
            "weights frozen"
            if frozen
            else "weight.requires_grad is True: freeze the pretrained vectors (freeze=True)",
            case=case,
        )
    )
    return show(report)


def _check_rows(
    report: Report,
    case: str,
    values: torch.Tensor,
    vocab: GivenVocab,
    vectors: dict[str, np.ndarray],
    padding_idx: Any,
) -> None:
    """'known', 'unknown' and 'padding' of weights (V, d) of the right shape."""
    known = [i for i, word in enumerate(vocab.itos) if word in vectors]
    if known:
        expected = np.stack([vectors[vocab.itos[i]] for i in known]).astype(np.float64)
        report.add(
            compare("known", values[known], expected, case=f"{case}, rows of words with a vector")
        )
    else:  # no vectors: every row is random
        report.add(verdict("known", True, f"shape {tuple(values.shape)} as expected", case=case))
    unknown = [i for i, word in enumerate(vocab.itos) if i > 1 and word not in vectors]
    problem = _normal_problem(values[unknown])
    report.add(
        verdict(
            "unknown",
            problem is None,
            problem or f"the {len(unknown)} rows without " "a vector look N(0, 1)",
            case=case,
        )
    )
    if not bool((values[0] == 0).all()):
        problem = f"row 0 (<PAD>) is {values[0, :4].tolist()}...; expected zeros"
    elif not bool((values[1] == 0).all()):
        problem = (
            f"row 1 (<UNK>) is {values[1, :4].tolist()}...; expected zeros: no train sentence "
            "has an unknown word, so a random <UNK> vector is never learnt from"
        )
    elif padding_idx != 0:
        problem = f"padding_idx is {padding_idx}; expected 0 (<PAD>)"
    else:
        problem = None
    report.add(
        verdict(
            "padding",
            problem is None,
            problem or "rows 0 and 1 (<PAD>, <UNK>) are zeros, padding_idx 0",
            case=case,
        )
    )


def _normal_problem(rows: torch.Tensor) -> str | None:
    """Why rows (n, d) don't look like independent N(0, 1) draws, or None.

    With m = n*d values, the sample mean is within 5/sqrt(m) of 0 and the sample standard
    deviation within 5/sqrt(2m) of 1 but for a chance below 1e-6; no two rows are equal.
    """
    m = rows.numel()
    mean, std = float(rows.mean()), float(rows.std())
    if abs(mean) > 5 / np.sqrt(m) or abs(std - 1) > 5 / np.sqrt(2 * m):
        return (
            f"the rows of words without a vector have mean {mean:.3f} and standard deviation "
            f"{std:.3f} over {m} values; expected N(0, 1) draws "
            "(torch.randn / np.random.randn)"
        )
    if len(torch.unique(rows, dim=0)) < len(rows):
        return "some rows of words without a vector are equal; draw each one anew"
    return None


# ----------------------------------------------------------------------------- part 2: models


def _embedding(rng: np.random.Generator, V: int, dim: int) -> nn.Embedding:
    """A frozen (V, dim) embedding with N(0, 1) rows and zeros at <PAD> (index 0)."""
    weight = torch.as_tensor(rng.standard_normal((V, dim)), dtype=torch.float32)
    weight[0] = 0
    return nn.Embedding.from_pretrained(weight, padding_idx=0, freeze=True)


def _batch(
    rng: np.random.Generator, V: int, lengths: np.ndarray
) -> tuple[torch.Tensor, torch.Tensor]:
    """texts (B, max length) of random tokens 1..V-1, padded with 0, and lengths (B,) int64."""
    texts = torch.zeros(len(lengths), int(lengths.max()), dtype=torch.long)
    for row, n in enumerate(lengths):
        texts[row, :n] = torch.as_tensor(rng.integers(1, V, n))
    return texts, torch.as_tensor(lengths, dtype=torch.long)


def _test_batches(rng: np.random.Generator, V: int, B: int, max_len: int) -> dict[str, tuple]:
    """'logits': a batch of equal lengths (no padding); 'padding': lengths 1..max_len."""
    lengths = rng.integers(1, max_len + 1, B)
    lengths[:2] = max_len, 1
    return {"logits": _batch(rng, V, np.full(B, max_len)), "padding": _batch(rng, V, lengths)}


def _fc_values(
    rng: np.random.Generator, shapes: list[tuple[int, ...]]
) -> dict[tuple[int, ...], torch.Tensor]:
    """One random tensor per distinct shape, uniform in +-1/sqrt(fan-in) as nn.Linear's init.

    Layers of equal shape get equal values, so the comparison does not depend on which of them
    a model registered first (the baseline's two hidden biases)."""
    return {
        shape: torch.as_tensor(rng.uniform(-1, 1, shape) / np.sqrt(shape[-1]), dtype=torch.float32)
        for shape in dict.fromkeys(shapes)
    }


def _layers(state: dict[str, Any], embedding: nn.Embedding) -> dict[str, torch.Tensor]:
    """The floating tensors of a state dict other than the embedding given to the model."""
    return {
        k: v
        for k, v in state.items()
        if isinstance(v, torch.Tensor)
        and v.is_floating_point()
        and not (v.shape == embedding.weight.shape and torch.equal(v, embedding.weight))
    }


def _shapes(tensors: dict[str, torch.Tensor]) -> list[tuple[int, ...]]:
    return sorted(tuple(t.shape) for t in tensors.values())


def _graded_model(
    report: Report,
    case: str,
    model: Any,
    name: str,
    embedding: nn.Embedding,
    expected_shapes: list[tuple[int, ...]],
) -> dict[str, torch.Tensor] | None:
    """Eval mode, then 'parameters': the model's layers (its state dict without the embedding)
    have the architecture's shapes. Returns the layers, or None after failing every quantity."""
    methods = [
        _attribute(report, case, model, method, list(report.quantities))
        for method in ("state_dict", "eval")
    ]
    if None in methods:
        return None
    ok, state = call_student(report, case, methods[0], name=f"{name}.state_dict")
    if not (ok and call_student(report, case, methods[1], name=f"{name}.eval")[0]):
        return None
    layers = _layers(dict(state), embedding)
    shapes = _shapes(layers)
    if shapes != expected_shapes:
        report.add(
            verdict(
                "parameters",
                False,
                f"the layers (the embedding left out) have shapes "
                f"{shapes}; the architecture's are {expected_shapes}",
                case=case,
            )
        )
        report.fail(
            ["logits", "padding"],
            case,
            "not compared: the layers' shapes differ from " "the architecture's (see parameters)",
        )
        return None
    report.add(
        verdict("parameters", True, f"{len(shapes)} layers of the architecture's shapes", case=case)
    )
    return layers


def _compare_logits(
    report: Report,
    case: str,
    model: Any,
    name: str,
    batches: dict[str, tuple],
    expected: dict[str, torch.Tensor],
) -> None:
    """'logits' and 'padding': the model's output on each test batch against ``expected``; a
    batch right without padding and wrong with it gets the padding hint."""
    right = {}
    for quantity, (texts, lengths) in batches.items():
        ok, logits = call_student(
            report, case, model, texts, lengths, name=f"{name}.forward", quantities=[quantity]
        )
        if ok:
            comparison = _compare_tensor(
                quantity,
                logits,
                expected[quantity],
                case=f"{case}, lengths={lengths.tolist()}",
                **_MODEL_TOLERANCE,
            )
            right[quantity] = comparison.ok
            if quantity == "padding" and right.get("logits") and not comparison.ok:
                comparison = dataclasses.replace(comparison, hint=_PADDING_HINT)
            report.add(comparison)


def _load(report: Report, case: str, model: Any, name: str, state: dict[str, torch.Tensor]) -> bool:
    load = _attribute(report, case, model, "load_state_dict", ["logits", "padding"])
    return (
        load is not None
        and call_student(
            report,
            case,
            load,
            state,
            strict=False,
            name=f"{name}.load_state_dict",
            quantities=["logits", "padding"],
        )[0]
    )


def _state(
    layers: dict[str, torch.Tensor],
    values: dict[tuple[int, ...], torch.Tensor],
    rnn_values: dict[str, torch.Tensor] | None = None,
) -> dict[str, torch.Tensor]:
    """The check's weights for a model's layers: a recurrent module's tensors by their PyTorch
    names (``weight_ih_l0``, ...), the others by shape."""
    state = {}
    for key, tensor in layers.items():
        match = _RNN_KEY.match(key) if rnn_values is not None else None
        state[key] = rnn_values[match["name"]] if match else values[tuple(tensor.shape)]
    return state


def _reference_logits(
    key: str,
    batches: dict[str, tuple],
    name: str,
    embedding: nn.Embedding,
    kwargs: dict[str, Any],
    values: dict[tuple[int, ...], torch.Tensor],
    rnn_values: dict[str, torch.Tensor] | None = None,
) -> dict[str, torch.Tensor]:
    """quantity -> the reference model ``name``'s logits on that test batch, with the check's
    weights, in float64 and eval mode (the control outputs in the handout)."""
    computed: dict[str, torch.Tensor] = {}

    def compute(quantity: str) -> torch.Tensor:
        if not computed:
            model = _reference(name)(copy.deepcopy(embedding), **kwargs)
            layers = _layers(model.state_dict(), embedding)
            model.load_state_dict(_state(layers, values, rnn_values), strict=False)
            model.double().eval()
            with torch.no_grad():
                computed.update({q: model(*batch) for q, batch in batches.items()})
        return computed[quantity]

    return {
        quantity: _expected(f"{key}/{quantity}", partial(compute, quantity)) for quantity in batches
    }


def check_baseline_model(
    BaselineModel: Any, *, seed: int, V: int, dim: int, B: int, max_len: int, hidden_size: int = 150
) -> Report:
    """BaselineModel(embedding[, hidden_size]) with the check's weights loaded: 'logits' (B,) on
    a batch without padding and 'padding' on a padded one, against the reference model's (mean
    pooling over the true lengths -> fc -> ReLU -> fc -> ReLU -> fc) with the same weights;
    'parameters': layers of shapes (H, d), (H,), (H, H), (H,), (1, H), (1,) besides the
    embedding."""
    report, rng = _start("baseline_model", seed)
    case = case_label(seed=seed, V=V, dim=dim, hidden_size=hidden_size, B=B)
    if dim == hidden_size or hidden_size < 2:
        raise ValueError(
            "dim must differ from hidden_size (> 1): " "the layers are told apart by shape"
        )
    H, embedding = hidden_size, _embedding(rng, V, dim)
    kwargs = {} if H == 150 else dict(hidden_size=H)
    expected_shapes = sorted([(H, dim), (H,), (H, H), (H,), (1, H), (1,)])
    values = _fc_values(rng, expected_shapes)
    batches = _test_batches(rng, V, B, max_len)
    key = "baseline_model/" + case_label(
        seed=seed, V=V, dim=dim, B=B, max_len=max_len, hidden_size=H
    )
    # the expected logits first, also where the student's code fails: recording the controls
    expected = _reference_logits(key, batches, "BaselineModel", embedding, kwargs, values)
    ok, model = call_student(
        report,
        case,
        BaselineModel,
        embedding,
        **kwargs,
        name="BaselineModel",
        forbidden=_forbidden(BaselineModel, ("BaselineModel",)),
    )
    layers = (
        _graded_model(report, case, model, "BaselineModel", embedding, expected_shapes)
        if ok
        else None
    )
    if layers is not None and _load(report, case, model, "BaselineModel", _state(layers, values)):
        _compare_logits(report, case, model, "BaselineModel", batches, expected)
    return show(report)


_RNN_KEY = re.compile(r"^(?P<prefix>.*?)(?P<name>(weight|bias)_(ih|hh)_l\d+(_reverse)?)$")


def _recurrent_names(layers: dict[str, torch.Tensor]) -> list[str]:
    """The recurrent module's tensors among a model's layers, by their nn.RNN names, sorted."""
    return sorted(match["name"] for match in map(_RNN_KEY.match, layers) if match)


def check_recurrent_model(
    RecurrentModel: Any,
    *,
    seed: int,
    V: int,
    dim: int,
    B: int,
    max_len: int,
    cell: str = "gru",
    hidden_size: int = 150,
    num_layers: int = 2,
    bidirectional: bool = False,
) -> Report:
    """RecurrentModel(embedding[, cell=, hidden_size=, num_layers=, bidirectional=]) with the
    check's weights loaded: 'logits' (B,) on a batch without padding and 'padding' on a padded
    one, against the reference model's (the RNN/GRU/LSTM over the packed sequence, its last
    layer's final state, both directions concatenated, -> fc -> ReLU -> fc) with the same weights;
    'parameters': an nn.RNN/GRU/LSTM (dim -> hidden_size, num_layers) and layers of shapes
    (H, directions * H), (H,), (1, H), (1,)."""
    report, rng = _start("recurrent_model", seed)
    directions = 2 if bidirectional else 1
    case = case_label(
        seed=seed,
        V=V,
        dim=dim,
        cell=cell,
        hidden_size=hidden_size,
        num_layers=num_layers,
        bidirectional=bidirectional or None,
        B=B,
    )
    H, embedding = hidden_size, _embedding(rng, V, dim)
    if H < 2:
        raise ValueError("hidden_size must be > 1: the layers are told apart by shape")
    given = dict(cell=cell, hidden_size=H, num_layers=num_layers, bidirectional=bidirectional)
    defaults = dict(cell="gru", hidden_size=150, num_layers=2, bidirectional=False)
    kwargs = {k: v for k, v in given.items() if v != defaults[k]}
    shapes_of = CELLS[cell](dim, H, num_layers, batch_first=True, bidirectional=bidirectional)
    fc_shapes = [(H, directions * H), (H,), (1, H), (1,)]
    values = _fc_values(rng, fc_shapes)
    rnn_values = {
        name: torch.as_tensor(rng.uniform(-1, 1, t.shape) / np.sqrt(H), dtype=torch.float32)
        for name, t in shapes_of.named_parameters()
    }
    batches = _test_batches(rng, V, B, max_len)
    key = "recurrent_model/" + case_label(seed=seed, V=V, dim=dim, B=B, max_len=max_len, **given)
    # the expected logits first, also where the student's code fails: recording the controls
    expected = _reference_logits(
        key, batches, "RecurrentModel", embedding, kwargs, values, rnn_values
    )
    ok, model = call_student(
        report,
        case,
        RecurrentModel,
        embedding,
        name="RecurrentModel",
        **kwargs,
        forbidden=_forbidden(RecurrentModel, ("RecurrentModel",)),
    )
    expected_shapes = sorted(fc_shapes + [tuple(p.shape) for p in shapes_of.parameters()])
    layers = (
        _graded_model(report, case, model, "RecurrentModel", embedding, expected_shapes)
        if ok
        else None
    )
    if layers is None:
        return show(report)
    found = _recurrent_names(layers)
    names = sorted(name for name, _ in shapes_of.named_parameters())
    if found != names:
        report.fail(
            ["logits", "padding"],
            case,
            f"not compared: expected one nn."
            f"{type(shapes_of).__name__} with parameters {names}, found {found}",
        )
    elif _load(report, case, model, "RecurrentModel", _state(layers, values, rnn_values)):
        _compare_logits(report, case, model, "RecurrentModel", batches, expected)
    return show(report)


# ----------------------------------------------------------------------------- training, evaluation


def _loader(rng: np.random.Generator, V: int, B: int, n_batches: int, max_len: int) -> list[tuple]:
    """n_batches of (texts (B, T), labels (B,) int64, lengths (B,)), lengths 1..max_len."""
    batches = []
    for _ in range(n_batches):
        texts, lengths = _batch(rng, V, rng.integers(1, max_len + 1, B))
        batches.append((texts, torch.as_tensor(rng.integers(0, 2, B)), lengths))
    return batches


class SumModel(nn.Module):
    """The model ``check_train_epoch`` trains: the frozen word vectors summed over the text
    (padding rows are zeros) -> fc -> tanh -> fc, one logit per sentence. A model of the lab's
    interface that is none of its tasks, so that train_epoch is graded on its own; its weights
    come from the case's generator."""

    def __init__(self, rng: np.random.Generator, V: int, dim: int, hidden_size: int) -> None:
        super().__init__()
        self.embedding = _embedding(rng, V, dim)
        self.fc1 = nn.Linear(dim, hidden_size)
        self.fc2 = nn.Linear(hidden_size, 1)
        shapes = [tuple(p.shape) for name, p in self.named_parameters() if name.startswith("fc")]
        self.load_state_dict(
            _state(_layers(self.state_dict(), self.embedding), _fc_values(rng, shapes)),
            strict=False,
        )

    def forward(self, texts: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return self.fc2(torch.tanh(self.fc1(self.embedding(texts).sum(dim=1)))).squeeze(-1)


def check_train_epoch(fn: Any, *, seed: int, B: int, n_batches: int, clip: float = 0.05) -> Report:
    """fn(model, loader, optimizer, clip=...) -> mean batch loss for a small model and SGD,
    against the reference: 'loss' with clipping that never acts (clip=1e6), 'clipping' with
    ``clip`` small enough to act on every batch."""
    report, rng = _start("train_epoch", seed)
    case = case_label(seed=seed, B=B, n_batches=n_batches)
    model = SumModel(rng, 30, 6, hidden_size=8)
    loader = _loader(rng, 30, B, n_batches, 7)
    forbidden = _forbidden(fn, ("train_epoch",))
    for quantity, max_norm in (("loss", 1e6), ("clipping", clip)):
        optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.5)
        # one deep copy keeps the optimizer pointing at the copied model's parameters
        expected = _expected(
            f"train_epoch/{case}, clip={max_norm:g}",
            lambda optimizer=optimizer, max_norm=max_norm: _reference("train_epoch")(
                *copy.deepcopy((model, loader, optimizer)), clip=max_norm
            ),
        )
        ok, loss = call_student(
            report,
            case,
            fn,
            model,
            loader,
            optimizer,
            clip=max_norm,
            name="train_epoch",
            quantities=[quantity],
            forbidden=forbidden,
        )
        if ok:
            report.add(
                compare(
                    quantity,
                    _as_float(loss),
                    expected,
                    case=f"{case}, clip={max_norm:g}",
                    **_MODEL_TOLERANCE,
                )
            )
    return show(report)


class LookupModel(nn.Module):
    """The model ``check_evaluate`` hands to students: logit = scores[first token of the text].

    In training mode its logits change sign, as dropout changes a real model's outputs:
    evaluate must switch to eval mode.
    """

    def __init__(self, scores: np.ndarray) -> None:
        super().__init__()
        self.scores = nn.Parameter(torch.as_tensor(scores, dtype=torch.float32))

    def forward(self, texts: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        logits = self.scores[texts[:, 0]]  # (B,)
        return -logits if self.training else logits


def check_evaluate(fn: Any, *, seed: int, B: int, n_batches: int) -> Report:
    """fn(model, loader) -> dict with 'loss' (mean BCE with logits over the examples),
    'accuracy', 'f1' (of class 1) and 'confusion_matrix' (2, 2) with rows = true class,
    predicted class 1 when the logit is > 0; against scikit-learn. The model is in training mode
    when given (its outputs differ there)."""
    report, rng = _start("evaluate", seed)
    case = case_label(seed=seed, B=B, n_batches=n_batches)
    V = 50
    model = LookupModel(2 * rng.standard_normal(V))
    loader = _loader(rng, V, B, n_batches, 6)
    ok, result = call_student(
        report,
        case,
        fn,
        model,
        loader,
        name="evaluate",
        forbidden=_forbidden(fn, ("evaluate",), *_METRICS),
    )
    if ok and not isinstance(result, dict):
        report.fail(
            report.quantities,
            case,
            f"evaluate returned a {type(result).__name__}; "
            "expected a dict with keys 'loss', 'accuracy', 'f1', 'confusion_matrix'",
        )
    elif ok:
        with torch.no_grad():
            logits = torch.cat([model.scores[texts[:, 0]] for texts, _, _ in loader]).double()
        y_true = torch.cat([labels for _, labels, _ in loader]).numpy()
        y_pred = (logits > 0).long().numpy()
        matrix = confusion_matrix(y_true, y_pred, labels=[0, 1])
        if (
            isinstance(result.get("confusion_matrix"), (np.ndarray, torch.Tensor))
            and np.asarray(result["confusion_matrix"]).dtype.kind == "f"
        ):
            matrix = matrix.astype(np.float64)  # whole-number floats count as counts
        bce = F.binary_cross_entropy_with_logits(logits, torch.as_tensor(y_true).double())
        expected = {
            "loss": bce.item(),
            "accuracy": accuracy_score(y_true, y_pred),
            "f1": f1_score(y_true, y_pred),
            "confusion_matrix": matrix,
        }
        for quantity, value in expected.items():
            if quantity not in result:
                report.add(
                    verdict(quantity, False, f"the result has no key {quantity!r}", case=case)
                )
            else:
                mine = result[quantity]
                mine = mine if quantity == "confusion_matrix" else _as_float(mine)
                report.add(compare(quantity, mine, value, case=case))
    return show(report)
