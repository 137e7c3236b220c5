"""Lab 3 (recurrent models): the graded checks, one per task (see docs/lab3-contract.md).

Every ``check_<task>(student, *, seed, ...)`` seeds ``random``/``np.random``/torch with ``seed``,
draws its inputs from ``np.random.default_rng(seed)``, calls the student's code only through
``call_student`` (an exception costs only that case; the course's references in ``dlcourse.rnn``,
``dlcourse.data.sst`` and ``dlcourse.sentiment`` and, for hand-derived gradients, autograd are
forbidden), compares each quantity with an independent oracle and prints the report.

Oracles: PyTorch autograd in float64 with a random upstream gradient for the NumPy RNN;
``torch.nn.utils`` (``clip_grad_norm_``, ``pad_sequence``, ``pack_padded_sequence`` through
``nn.RNN``/``nn.GRU``/``nn.LSTM``) and scikit-learn for the rest; the SST files themselves for the
vocabulary's control outputs. The models are graded with weights the check loads into them, so the
comparison does not depend on their random initialisation.

Tasks that build on another are graded on their own: ``rnn_forward`` and ``rnn_backward`` run with
an oracle ``rnn_step_forward`` (and ``rnn_forward``), ``NLPDataset`` with the reference ``Vocab``.
"""
from __future__ import annotations

import copy
import dataclasses
import functools
import re
from collections import Counter
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_sequence

from dlcourse import rnn, sentiment
from dlcourse.check import (Comparison, Report, autograd_reference, call_student, case_label,
                            compare, isolate, numerical_gradient, show, start_case,
                            upstream_gradient, verdict)
from dlcourse.data import sst

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
"""Task id -> points (41 in all)."""

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

_AUTOGRAD = (torch.Tensor.backward, torch.autograd.backward, torch.autograd.grad,
             autograd_reference, numerical_gradient)
_RNN_REFERENCES = (rnn.rnn_step_forward, rnn.rnn_forward, rnn.rnn_backward, rnn.clip_gradients)
_DATA_REFERENCES = (sst.Vocab, sst.NLPDataset, sst.pad_collate_fn, sst.load_embedding,
                    sst.read_instances, sst.parse_line, sst.token_frequencies)
_MODEL_TOLERANCE = dict(atol=1e-5, rtol=1e-4)  # float32 models against a float64 reference
_PADDING_HINT = (" (padding changes your logits: leave the padded positions out, by the lengths: "
                 "pack the sequence or mask)")


# ----------------------------------------------------------------------------- shared steps

def _start(task: str, seed: int) -> tuple[Report, np.random.Generator]:
    return start_case(task, QUANTITIES[task], seed)



def _tensor_problem(what: str, x: Any, *, integer: bool) -> str | None:
    """Why x is not a torch tensor of integers (int64) / of floats, or None."""
    if not isinstance(x, torch.Tensor):
        return f"{what} is a {type(x).__name__}; expected a torch tensor"
    if integer and x.dtype != torch.long:
        return f"{what} has dtype {x.dtype}; expected torch.int64 (torch.long)"
    if not integer and not x.is_floating_point():
        return f"{what} has dtype {x.dtype}; expected floating point values"
    return None


def _compare_tensor(quantity: str, yours: Any, expected: torch.Tensor, case: str,
                    **tolerance: float) -> Comparison:
    """compare() for a quantity that must be a torch tensor (int64 for integer references);
    float tensors are compared in float64 (models compute in float32)."""
    integer = not expected.is_floating_point()
    problem = _tensor_problem(quantity, yours, integer=integer)
    if problem:
        return verdict(quantity, False, problem, case=case)
    if integer:
        return compare(quantity, yours, expected, case=case, **tolerance)
    return compare(quantity, yours.detach().double(), expected.double(), case=case, **tolerance)


def _as_float(x: Any) -> Any:
    """A one-element float tensor or numpy value as a python float (float32 losses are fine); else x."""
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
        report.fail(quantities, case, f"{type(obj).__name__}.{name} is missing ({type(exc).__name__}: {exc})")
        return None


# ----------------------------------------------------------------------------- part 0: numpy RNN

def _step_torch(x: torch.Tensor, h_prev: torch.Tensor, W_xh: torch.Tensor, W_hh: torch.Tensor,
                b_h: torch.Tensor) -> torch.Tensor:
    return torch.tanh(x @ W_xh + h_prev @ W_hh + b_h)


def _states_torch(x: torch.Tensor, h0: torch.Tensor, W_xh: torch.Tensor, W_hh: torch.Tensor,
                  b_h: torch.Tensor) -> torch.Tensor:
    states, h = [], h0
    for t in range(x.shape[1]):
        h = _step_torch(x[:, t], h, W_xh, W_hh, b_h)
        states.append(h)
    return torch.stack(states, dim=1)  # (N, T, H)


def _logits_torch(x: torch.Tensor, h0: torch.Tensor, W_xh: torch.Tensor, W_hh: torch.Tensor,
                  b_h: torch.Tensor, W_hy: torch.Tensor, b_y: torch.Tensor, *,
                  dense: bool) -> torch.Tensor:
    h = _states_torch(x, h0, W_xh, W_hh, b_h)
    return (h if dense else h[:, -1]) @ W_hy + b_y  # (N, T, C) or (N, C)


def _step_oracle(x: np.ndarray, h_prev: np.ndarray, W_xh: np.ndarray, W_hh: np.ndarray,
                 b_h: np.ndarray) -> np.ndarray:
    """What a correct rnn_step_forward returns; stands in for the student's (plain NumPy: a
    student's rnn_backward that calls it must not look as if it called autograd)."""
    return np.tanh(x @ W_xh + h_prev @ W_hh + b_h)


def _forward_oracle(x: np.ndarray, h0: np.ndarray, W_xh: np.ndarray, W_hh: np.ndarray,
                    b_h: np.ndarray) -> np.ndarray:
    """What a correct rnn_forward returns, (N, T, H); stands in for the student's."""
    states, h = [], h0
    for t in range(x.shape[1]):
        h = _step_oracle(x[:, t], h, W_xh, W_hh, b_h)
        states.append(h)
    return np.stack(states, axis=1)


def _rnn_weights(rng: np.random.Generator, D: int, H: int, C: int | None = None) -> dict[str, np.ndarray]:
    """Random weights scaled by 1/sqrt(fan-in), so that tanh is not saturated."""
    weights = dict(W_xh=rng.standard_normal((D, H)) / np.sqrt(D),
                   W_hh=rng.standard_normal((H, H)) / np.sqrt(H), b_h=0.5 * rng.standard_normal(H))
    if C is not None:
        weights.update(W_hy=rng.standard_normal((H, C)) / np.sqrt(H), b_y=rng.standard_normal(C))
    return weights


def check_rnn_step_forward(fn: Any, *, seed: int, N: int, D: int, H: int,
                           scale: float = 1.0) -> Report:
    """h_next = fn(x, h_prev, W_xh, W_hh, b_h), (N, H), against torch; ``scale`` multiplies x."""
    report, rng = _start("rnn_step_forward", seed)
    case = case_label(seed=seed, N=N, D=D, H=H, scale=None if scale == 1 else scale)
    inputs = dict(x=scale * rng.standard_normal((N, D)), h_prev=np.tanh(rng.standard_normal((N, H))),
                  **_rnn_weights(rng, D, H))
    ok, h_next = call_student(report, case, fn, *inputs.values(), name="rnn_step_forward",
                              forbidden=_RNN_REFERENCES)
    if ok:
        report.add(compare("h_next", h_next, autograd_reference(_step_torch, inputs, [])[0], case=case))
    return show(report)


def check_rnn_forward(fn: Any, *, seed: int, N: int, T: int, D: int, H: int) -> Report:
    """h = fn(x, h0, W_xh, W_hh, b_h), all states (N, T, H), against torch; runs with the
    oracle as ``rnn_step_forward``."""
    report, rng = _start("rnn_forward", seed)
    case = case_label(seed=seed, N=N, T=T, D=D, H=H)
    inputs = dict(x=rng.standard_normal((N, T, D)), h0=np.tanh(rng.standard_normal((N, H))),
                  **_rnn_weights(rng, D, H))
    with isolate(fn, rnn_step_forward=_step_oracle):
        ok, h = call_student(report, case, fn, *inputs.values(), name="rnn_forward",
                             forbidden=_RNN_REFERENCES)
    if ok:
        report.add(compare("h", h, autograd_reference(_states_torch, inputs, [])[0], case=case))
    return show(report)


def check_rnn_backward(fn: Any, *, seed: int, N: int, T: int, D: int, H: int, C: int,
                       dense: bool) -> Report:
    """grads = fn(d_logits, x, h0, h, W_xh, W_hh, W_hy), a dict of dL/dW_xh, ..., dL/dh0,
    against autograd of the RNN's logits (per step when ``dense``, else the last step's) with a
    random upstream gradient d_logits; runs with oracles as ``rnn_step_forward``/``rnn_forward``."""
    report, rng = _start("rnn_backward", seed)
    case = case_label(seed=seed, N=N, T=T, D=D, H=H, C=C, output="dense" if dense else "last")
    inputs = dict(x=rng.standard_normal((N, T, D)), h0=np.tanh(rng.standard_normal((N, H))),
                  **_rnn_weights(rng, D, H, C))
    h = _forward_oracle(*(inputs[k] for k in ("x", "h0", "W_xh", "W_hh", "b_h")))
    d_logits = upstream_gradient((N, T, C) if dense else (N, C), seed)
    _, expected = autograd_reference(partial(_logits_torch, dense=dense), inputs,
                                     rnn.GRADIENTS, grad_out=d_logits)
    with isolate(fn, rnn_step_forward=_step_oracle, rnn_forward=_forward_oracle):
        ok, grads = call_student(report, case, fn, d_logits, inputs["x"], inputs["h0"], h,
                                 inputs["W_xh"], inputs["W_hh"], inputs["W_hy"],
                                 name="rnn_backward", forbidden=_RNN_REFERENCES + _AUTOGRAD)
    if ok and not isinstance(grads, dict):
        report.fail(report.quantities, case, f"rnn_backward returned a {type(grads).__name__}; "
                    f"expected a dict with keys {list(rnn.GRADIENTS)}")
    elif ok:
        for name in report.quantities:
            if name not in grads:
                report.add(verdict(name, False, f"the result has no key {name!r}", case=case))
            else:
                report.add(compare(name, grads[name], expected[name], case=case))
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
    norm = rnn.global_norm(grads)
    for quantity, target in (("clipped", rng.uniform(2, 10) * max_norm),
                             ("unchanged", rng.uniform(0.2, 0.9) * max_norm)):
        given = {k: g * target / norm for k, g in grads.items()}
        ok, out = call_student(report, case, fn, given, max_norm, name="clip_gradients",
                               quantities=[quantity],
                               forbidden=_RNN_REFERENCES + (nn.utils.clip_grad_norm_,))
        if ok and not isinstance(out, dict):
            report.fail([quantity], case, f"clip_gradients returned a {type(out).__name__}; "
                        "expected a dict like the one it was given")
        elif ok:
            expected = _clip_oracle(given, max_norm)
            for k, ref in expected.items():
                report.add(compare(quantity, out.get(k), ref, case=f"{case}, grads[{k!r}]"))
    return show(report)


# ----------------------------------------------------------------------------- part 1: data

def _random_frequencies(rng: np.random.Generator, n_words: int, min_freq: int) -> Counter[str]:
    """n_words made-up words with counts 1..6 (many ties), in a random order; one word has
    exactly ``min_freq`` occurrences (the boundary case) when min_freq > 0."""
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    words: dict[str, None] = {}
    while len(words) < n_words:
        words["".join(rng.choice(letters, rng.integers(2, 9)))] = None
    counts = rng.integers(1, 7, n_words)
    if min_freq > 0:
        counts[rng.integers(n_words)] = min_freq
    return Counter(dict(zip(words, counts.tolist())))


@functools.lru_cache(maxsize=4)
def _instances(path: Path) -> list[sst.Instance]:
    return sst.read_instances(path)


def _train_vocab(max_size: int = -1) -> tuple[list[sst.Instance], sst.Vocab]:
    instances = _instances(sst.split_path("train"))
    return instances, sst.Vocab(sst.token_frequencies(instances), max_size=max_size)


def _student_vocab(report: Report, case: str, Vocab: Any, quantity: str, frequencies: Counter[str],
                 **kwargs: int) -> Any:
    """A student's Vocab(frequencies, **kwargs), or None after recording the failure."""
    ok, vocab = call_student(report, case, Vocab, frequencies, **kwargs, name="Vocab",
                             quantities=[quantity], forbidden=_DATA_REFERENCES)
    return vocab if ok else None


def _specials_problem(vocab: Any) -> str | None:
    itos, stoi = getattr(vocab, "itos", None), getattr(vocab, "stoi", None)
    if not isinstance(itos, list) or not isinstance(stoi, dict):
        return "Vocab needs attributes itos (a list) and stoi (a dict)"
    if itos[:2] != [sst.PAD, sst.UNK]:
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
    frequencies = _random_frequencies(rng, n_words, min_freq)
    student = partial(_student_vocab, report, case, Vocab)
    vocab = student("specials", frequencies)
    if vocab is not None:
        problem = _specials_problem(vocab)
        report.add(verdict("specials", problem is None,
                           problem or "<PAD> = 0, <UNK> = 1, stoi inverts itos", case=case))
    for quantity, kwargs in (("order", {}), ("max_size", dict(max_size=max_size)),
                             ("min_freq", dict(min_freq=min_freq))):
        mine = student(quantity, frequencies, **kwargs)
        if mine is not None:
            label = case_label(case=case, **kwargs).removeprefix("case=")
            problem = _words_problem(getattr(mine, "itos", None), sst.Vocab(frequencies, **kwargs).itos)
            report.add(verdict(quantity, problem is None, problem or "the words of itos as expected",
                               case=label))
    if vocab is not None:
        _check_encode(report, case, vocab, frequencies, rng)
    else:
        report.fail(["encode"], case, "not checked: Vocab(frequencies) failed (see specials)")
    _check_control(report, Vocab)
    return show(report)


def _check_encode(report: Report, case: str, vocab: Any, frequencies: Counter[str],
                  rng: np.random.Generator) -> None:
    known = [str(word) for word in rng.choice(list(frequencies), 6)]
    tokens = known[:3] + ["<never-seen>"] + known[3:] + ["qqqqqqqqqq"]
    encode = _attribute(report, case, vocab, "encode", ["encode"])
    ok, encoded = (False, None) if encode is None else call_student(
        report, case, encode, tokens, name="Vocab.encode", quantities=["encode"],
        forbidden=_DATA_REFERENCES)
    if ok:
        report.add(_compare_tensor("encode", encoded, sst.Vocab(frequencies).encode(tokens),
                                   case=f"{case}, tokens={tokens}"))


def _check_control(report: Report, Vocab: Any) -> None:
    """The course's control outputs on the real train file."""
    case = "train file"
    instances, reference = _train_vocab()
    ok, vocab = call_student(report, case, Vocab, sst.token_frequencies(instances), name="Vocab",
                             quantities=["control"], forbidden=_DATA_REFERENCES)
    if not ok:
        return
    itos, stoi = getattr(vocab, "itos", None), getattr(vocab, "stoi", None)
    if not isinstance(itos, list) or not isinstance(stoi, dict):
        report.fail(["control"], case, "Vocab needs attributes itos (a list) and stoi (a dict)")
        return
    problems = [] if len(itos) == len(reference.itos) else [
        f"len(itos) is {len(itos)}, expected {len(reference.itos)}"]
    problems += [f"stoi[{word!r}] is {stoi.get(word)}, expected {reference.stoi[word]}"
                 for word in CONTROL_WORDS if stoi.get(word) != reference.stoi[word]]
    report.add(verdict("control", not problems, "; ".join(problems[:3]) or
                       f"{len(itos)} entries; " + ", ".join(f"{w}={stoi[w]}" for w in CONTROL_WORDS),
                       case=case))
    text = instances[CONTROL_INSTANCE].text
    encode = _attribute(report, case, vocab, "encode", ["control"])
    ok, encoded = (False, None) if encode is None else call_student(
        report, case, encode, text, name="Vocab.encode", quantities=["control"],
        forbidden=_DATA_REFERENCES)
    if ok:
        report.add(_compare_tensor("control", encoded, reference.encode(text),
                                   case=f"{case}, encode(train instance {CONTROL_INSTANCE})"))


def check_nlp_dataset(NLPDataset: Any, *, seed: int, n_items: int, other_split: str = "valid",
                      max_size: int = -1) -> Report:
    """On the real files, with the reference Vocab: 'length' and 'items' of
    NLPDataset.from_file(train, max_size=...) (len, and dataset[i] = (text int64 tensor of the
    indices in the vocabulary built on train, label () int64 with negative 0 / positive 1) for
    ``n_items`` random i and the control instance 3); 'vocab': the same for
    NLPDataset.from_file(<other_split>, vocab=<train vocabulary>)."""
    report, rng = _start("nlp_dataset", seed)
    case = case_label(seed=seed, max_size=None if max_size == -1 else max_size)
    train_instances, vocab = _train_vocab(max_size)
    other_instances = _instances(sst.split_path(other_split))
    forbidden = tuple(f for f in _DATA_REFERENCES if f is not sst.Vocab)  # the substitute
    student = partial(call_student, report, forbidden=forbidden)
    from_file = _attribute(report, case, NLPDataset, "from_file", list(report.quantities))
    if from_file is None:
        return show(report)
    with isolate(NLPDataset, Vocab=sst.Vocab):
        kwargs = {} if max_size == -1 else dict(max_size=max_size)
        ok, train = student(f"{case}, train", from_file, str(sst.split_path("train")),
                            **kwargs, name="NLPDataset.from_file", quantities=["length", "items"])
        if ok:
            _check_items(report, f"{case}, train", train, train_instances, vocab, ("length", "items"),
                         sorted({CONTROL_INSTANCE, *rng.integers(len(train_instances), size=n_items)}))
        split_case = f"{case}, {other_split} with the train vocabulary"
        ok, other = student(split_case, from_file, str(sst.split_path(other_split)),
                            vocab=vocab, name="NLPDataset.from_file", quantities=["vocab"])
        if ok:
            _check_items(report, split_case, other, other_instances, vocab, ("vocab", "vocab"),
                         sorted(rng.integers(len(other_instances), size=n_items)))
    return show(report)


def _check_items(report: Report, case: str, dataset: Any, instances: list[sst.Instance],
                 vocab: sst.Vocab, quantities: tuple[str, str], indices: list[int]) -> None:
    """len(dataset) (quantities[0]) and dataset[i] for each index (quantities[1])."""
    length_q, items_q = quantities
    length_fn = _attribute(report, case, dataset, "__len__", [length_q])
    ok, length = (False, None) if length_fn is None else call_student(
        report, case, length_fn, name="NLPDataset.__len__", quantities=[length_q])
    if ok:
        report.add(compare(length_q, length, len(instances), case=f"{case}, len"))
    getitem = _attribute(report, case, dataset, "__getitem__", [items_q])
    for i in indices if getitem is not None else []:
        ok, item = call_student(report, case, getitem, int(i), name="NLPDataset.__getitem__",
                                quantities=[items_q], outputs=2)
        if ok:
            instance = instances[i]
            report.add(_compare_tensor(items_q, item[0], vocab.encode(instance.text),
                                       case=f"{case}, dataset[{i}][0] (text)"))
            report.add(_compare_tensor(items_q, item[1], torch.tensor(sst.LABELS[instance.label]),
                                       case=f"{case}, dataset[{i}][1] (label {instance.label!r})"))


def check_pad_collate_fn(fn: Any, *, seed: int, B: int, max_len: int, pad_index: int = 0) -> Report:
    """(texts (B, max_len), labels (B,), lengths (B,)) = fn(batch[, pad_index=...]) for B random
    (text, label) pairs of lengths 1..max_len, against pad_sequence."""
    report, rng = _start("pad_collate_fn", seed)
    case = case_label(seed=seed, B=B, max_len=max_len, pad_index=pad_index or None)
    lengths = rng.integers(1, max_len + 1, B)
    lengths[rng.integers(B)] = max_len
    batch = [(torch.as_tensor(rng.integers(2, 100, n)), torch.tensor(int(rng.integers(2))))
             for n in lengths]
    kwargs = dict(pad_index=pad_index) if pad_index else {}
    ok, out = call_student(report, case, fn, batch, **kwargs, name="pad_collate_fn", outputs=3,
                           forbidden=_DATA_REFERENCES)
    if ok:
        texts, labels = zip(*batch)
        expected = (pad_sequence(list(texts), batch_first=True, padding_value=pad_index),
                    torch.stack(labels), torch.as_tensor(lengths))
        for quantity, mine, ref in zip(report.quantities, out, expected):
            report.add(_compare_tensor(quantity, mine, ref, case))
    return show(report)


def _embedding_values(emb: Any) -> tuple[torch.Tensor | None, str]:
    """(weights as a float64 tensor, '') of an nn.Embedding-like result, or (None, why not)."""
    weight = getattr(emb, "weight", None)
    if weight is None or not hasattr(emb, "padding_idx"):
        return None, f"load_embedding returned a {type(emb).__name__}; expected an nn.Embedding"
    values = weight.detach().cpu()
    if not values.is_floating_point():
        return None, f"the weights have dtype {values.dtype}; expected floats"
    return values.double(), ""


def check_load_embedding(fn: Any, *, seed: int, n_words: int, dim: int,
                         with_vectors: bool = True) -> Report:
    """emb = fn(vocab, vectors) (or fn(vocab, dim=dim) without vectors) for the reference Vocab of
    ``n_words`` made-up words: 'known' (shape (V, d); rows of words with a vector equal it),
    'unknown' (the other rows look N(0, 1)), 'padding' (row 0 zeros, padding_idx 0), 'frozen'."""
    report, rng = _start("load_embedding", seed)
    case = case_label(seed=seed, n_words=n_words, dim=dim, vectors=None if with_vectors else "None")
    vocab = sst.Vocab(_random_frequencies(rng, n_words, 0))
    extra = _random_frequencies(rng, 5, 0)  # words with vectors that are not in the vocabulary
    vectors = {word: rng.standard_normal(dim).astype(np.float32)
               for word in vocab.itos[2:] + list(extra) if rng.random() < 0.6} if with_vectors else None
    args = (vocab, vectors) if with_vectors else (vocab,)
    kwargs = {} if with_vectors else dict(dim=dim)
    ok, emb = call_student(report, case, fn, *args, **kwargs, name="load_embedding",
                           forbidden=_DATA_REFERENCES)
    if not ok:
        return show(report)
    values, problem = _embedding_values(emb)
    if values is None:
        report.fail(report.quantities, case, problem)
        return show(report)
    shape = (len(vocab.itos), dim)
    if tuple(values.shape) != shape:
        report.fail(["known", "unknown", "padding"], case, f"the weights have shape "
                    f"{tuple(values.shape)}, expected {shape} (vocabulary size, vector size)")
    else:
        _check_rows(report, case, values, vocab, vectors or {}, getattr(emb, "padding_idx", None))
    frozen = not emb.weight.requires_grad
    report.add(verdict("frozen", frozen, "weights frozen" if frozen else
                       "weight.requires_grad is True: freeze the pretrained vectors (freeze=True)",
                       case=case))
    return show(report)


def _check_rows(report: Report, case: str, values: torch.Tensor, vocab: sst.Vocab,
                vectors: dict[str, np.ndarray], padding_idx: Any) -> None:
    """'known', 'unknown' and 'padding' of weights (V, d) of the right shape."""
    known = [i for i, word in enumerate(vocab.itos) if word in vectors]
    if known:
        expected = np.stack([vectors[vocab.itos[i]] for i in known]).astype(np.float64)
        report.add(compare("known", values[known], expected, case=f"{case}, rows of words with a vector"))
    else:  # no vectors: every row is random
        report.add(verdict("known", True, f"shape {tuple(values.shape)} as expected", case=case))
    unknown = [i for i, word in enumerate(vocab.itos) if i > 0 and word not in vectors]
    problem = _normal_problem(values[unknown])
    report.add(verdict("unknown", problem is None, problem or f"the {len(unknown)} rows without "
                       "a vector look N(0, 1)", case=case))
    if not bool((values[0] == 0).all()):
        problem = f"row 0 (<PAD>) is {values[0, :4].tolist()}...; expected zeros"
    elif padding_idx != 0:
        problem = f"padding_idx is {padding_idx}; expected 0 (<PAD>)"
    else:
        problem = None
    report.add(verdict("padding", problem is None, problem or "row 0 (<PAD>) is zeros, padding_idx 0",
                       case=case))


def _normal_problem(rows: torch.Tensor) -> str | None:
    """Why rows (n, d) don't look like independent N(0, 1) draws, or None.

    With m = n*d values, the sample mean is within 5/sqrt(m) of 0 and the sample standard
    deviation within 5/sqrt(2m) of 1 but for a chance below 1e-6; no two rows are equal.
    """
    m = rows.numel()
    mean, std = float(rows.mean()), float(rows.std())
    if abs(mean) > 5 / np.sqrt(m) or abs(std - 1) > 5 / np.sqrt(2 * m):
        return (f"the rows of words without a vector have mean {mean:.3f} and standard deviation "
                f"{std:.3f} over {m} values; expected N(0, 1) draws (torch.randn / np.random.randn)")
    if len(torch.unique(rows, dim=0)) < len(rows):
        return "some rows of words without a vector are equal; draw each one anew"
    return None


# ----------------------------------------------------------------------------- part 2: models

def _embedding(rng: np.random.Generator, V: int, dim: int) -> nn.Embedding:
    """A frozen (V, dim) embedding with N(0, 1) rows and zeros at <PAD> (index 0)."""
    weight = torch.as_tensor(rng.standard_normal((V, dim)), dtype=torch.float32)
    weight[0] = 0
    return nn.Embedding.from_pretrained(weight, padding_idx=0, freeze=True)


def _batch(rng: np.random.Generator, V: int, lengths: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
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


def _fc_values(rng: np.random.Generator, shapes: list[tuple[int, ...]]) -> dict[tuple[int, ...], torch.Tensor]:
    """One random tensor per distinct shape, uniform in +-1/sqrt(fan-in) as nn.Linear's init.

    Layers of equal shape get equal values, so the comparison does not depend on which of them
    a model registered first (the baseline's two hidden biases)."""
    return {shape: torch.as_tensor(rng.uniform(-1, 1, shape) / np.sqrt(shape[-1]), dtype=torch.float32)
            for shape in dict.fromkeys(shapes)}


def _layers(state: dict[str, Any], embedding: nn.Embedding) -> dict[str, torch.Tensor]:
    """The floating tensors of a state dict other than the embedding given to the model."""
    return {k: v for k, v in state.items() if isinstance(v, torch.Tensor) and v.is_floating_point()
            and not (v.shape == embedding.weight.shape and torch.equal(v, embedding.weight))}


def _shapes(tensors: dict[str, torch.Tensor]) -> list[tuple[int, ...]]:
    return sorted(tuple(t.shape) for t in tensors.values())


def _graded_model(report: Report, case: str, model: Any, name: str, embedding: nn.Embedding,
                  expected_shapes: list[tuple[int, ...]]) -> dict[str, torch.Tensor] | None:
    """Eval mode, then 'parameters': the model's layers (its state dict without the embedding)
    have the architecture's shapes. Returns the layers, or None after failing every quantity."""
    methods = [_attribute(report, case, model, method, list(report.quantities))
               for method in ("state_dict", "eval")]
    if None in methods:
        return None
    ok, state = call_student(report, case, methods[0], name=f"{name}.state_dict")
    if not (ok and call_student(report, case, methods[1], name=f"{name}.eval")[0]):
        return None
    layers = _layers(dict(state), embedding)
    shapes = _shapes(layers)
    if shapes != expected_shapes:
        report.add(verdict("parameters", False, f"the layers (the embedding left out) have shapes "
                           f"{shapes}; the architecture's are {expected_shapes}", case=case))
        report.fail(["logits", "padding"], case, "not compared: the layers' shapes differ from "
                    "the architecture's (see parameters)")
        return None
    report.add(verdict("parameters", True, f"{len(shapes)} layers of the architecture's shapes",
                       case=case))
    return layers


def _compare_logits(report: Report, case: str, model: Any, name: str, batches: dict[str, tuple],
                    reference: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> None:
    """'logits' and 'padding': the model's output on each test batch against ``reference``."""
    for quantity, (texts, lengths) in batches.items():
        ok, logits = call_student(report, case, model, texts, lengths, name=f"{name}.forward",
                                  quantities=[quantity])
        if ok:
            with torch.no_grad():
                expected = reference(texts, lengths)
            comparison = _compare_tensor(quantity, logits, expected,
                                         case=f"{case}, lengths={lengths.tolist()}", **_MODEL_TOLERANCE)
            if quantity == "padding" and not comparison.ok and comparison.max_abs is not None:
                comparison = dataclasses.replace(comparison, message=comparison.message + _PADDING_HINT)
            report.add(comparison)


def _load(report: Report, case: str, model: Any, name: str, state: dict[str, torch.Tensor]) -> bool:
    load = _attribute(report, case, model, "load_state_dict", ["logits", "padding"])
    return load is not None and call_student(report, case, load, state, strict=False,
                                             name=f"{name}.load_state_dict",
                                             quantities=["logits", "padding"])[0]


def _mlp(x: torch.Tensor, layers: list[tuple[torch.Tensor, torch.Tensor]]) -> torch.Tensor:
    """Linear layers (weight, bias) with ReLU between them, in float64; -> (B,)."""
    for i, (weight, bias) in enumerate(layers):
        x = x @ weight.double().T + bias.double()
        x = F.relu(x) if i < len(layers) - 1 else x
    return x.squeeze(-1)


def _mean_pooling(weight: torch.Tensor, texts: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    x = F.embedding(texts, weight.double())  # (B, T, d)
    valid = torch.arange(texts.shape[1]) < lengths[:, None]  # (B, T)
    return (x * valid[..., None]).sum(dim=1) / lengths[:, None]  # (B, d)


def check_baseline_model(BaselineModel: Any, *, seed: int, V: int, dim: int, B: int, max_len: int,
                         hidden_size: int = 150) -> Report:
    """BaselineModel(embedding[, hidden_size]) with the check's weights loaded: 'logits' (B,) on
    a batch without padding and 'padding' on a padded one, against mean pooling over the true
    lengths -> fc -> ReLU -> fc -> ReLU -> fc; 'parameters': layers of shapes (H, d), (H,),
    (H, H), (H,), (1, H), (1,) besides the embedding."""
    report, rng = _start("baseline_model", seed)
    case = case_label(seed=seed, V=V, dim=dim, hidden_size=hidden_size, B=B)
    if dim == hidden_size or hidden_size < 2:
        raise ValueError("dim must differ from hidden_size (> 1): the layers are told apart by shape")
    H, embedding = hidden_size, _embedding(rng, V, dim)
    kwargs = {} if H == 150 else dict(hidden_size=H)
    ok, model = call_student(report, case, BaselineModel, embedding, **kwargs, name="BaselineModel",
                             forbidden=(sentiment.BaselineModel,))
    expected_shapes = sorted([(H, dim), (H,), (H, H), (H,), (1, H), (1,)])
    layers = _graded_model(report, case, model, "BaselineModel", embedding, expected_shapes) if ok else None
    if layers is None:
        return show(report)
    values = _fc_values(rng, expected_shapes)
    if not _load(report, case, model, "BaselineModel", {k: values[tuple(t.shape)] for k, t in layers.items()}):
        return show(report)
    mlp = [(values[(H, dim)], values[(H,)]), (values[(H, H)], values[(H,)]), (values[(1, H)], values[(1,)])]

    def reference(texts: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return _mlp(_mean_pooling(embedding.weight, texts, lengths), mlp)

    _compare_logits(report, case, model, "BaselineModel", _test_batches(rng, V, B, max_len), reference)
    return show(report)


_RNN_KEY = re.compile(r"^(?P<prefix>.*?)(?P<name>(weight|bias)_(ih|hh)_l\d+(_reverse)?)$")


def _split_rnn(layers: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """(the recurrent module's tensors by their nn.RNN names, the other layers by key)."""
    recurrent, others = {}, {}
    for key, tensor in layers.items():
        match = _RNN_KEY.match(key)
        if match:
            recurrent[match["name"]] = tensor
        else:
            others[key] = tensor
    return recurrent, others


def check_recurrent_model(RecurrentModel: Any, *, seed: int, V: int, dim: int, B: int, max_len: int,
                          cell: str = "gru", hidden_size: int = 150, num_layers: int = 2,
                          bidirectional: bool = False) -> Report:
    """RecurrentModel(embedding[, cell=, hidden_size=, num_layers=, bidirectional=]) with the
    check's weights loaded: 'logits' (B,) on a batch without padding and 'padding' on a padded
    one, against the torch RNN/GRU/LSTM over the packed sequence, its last layer's final state
    (both directions concatenated) -> fc -> ReLU -> fc; 'parameters': an nn.RNN/GRU/LSTM
    (dim -> hidden_size, num_layers) and layers of shapes (H, directions * H), (H,), (1, H), (1,)."""
    report, rng = _start("recurrent_model", seed)
    directions = 2 if bidirectional else 1
    case = case_label(seed=seed, V=V, dim=dim, cell=cell, hidden_size=hidden_size,
                      num_layers=num_layers, bidirectional=bidirectional or None, B=B)
    H, embedding = hidden_size, _embedding(rng, V, dim)
    if H < 2:
        raise ValueError("hidden_size must be > 1: the layers are told apart by shape")
    given = dict(cell=cell, hidden_size=H, num_layers=num_layers, bidirectional=bidirectional)
    defaults = dict(cell="gru", hidden_size=150, num_layers=2, bidirectional=False)
    ok, model = call_student(report, case, RecurrentModel, embedding, name="RecurrentModel",
                             **{k: v for k, v in given.items() if v != defaults[k]},
                             forbidden=(sentiment.RecurrentModel,))
    reference_rnn = sentiment.CELLS[cell](dim, H, num_layers, batch_first=True,
                                          bidirectional=bidirectional).double()
    fc_shapes = [(H, directions * H), (H,), (1, H), (1,)]
    expected_shapes = sorted(fc_shapes + [tuple(p.shape) for p in reference_rnn.parameters()])
    layers = _graded_model(report, case, model, "RecurrentModel", embedding, expected_shapes) if ok else None
    if layers is None:
        return show(report)
    recurrent, others = _split_rnn(layers)
    names = sorted(name for name, _ in reference_rnn.named_parameters())
    if sorted(recurrent) != names:
        report.fail(["logits", "padding"], case, f"not compared: expected one nn.{type(reference_rnn).__name__} "
                    f"with parameters {names}, found {sorted(recurrent)}")
        return show(report)
    values = _fc_values(rng, fc_shapes)
    rnn_values = {name: torch.as_tensor(rng.uniform(-1, 1, t.shape) / np.sqrt(H), dtype=torch.float32)
                  for name, t in recurrent.items()}
    new_state = {k: values[tuple(t.shape)] for k, t in others.items()}
    new_state.update({k: rnn_values[_RNN_KEY.match(k)["name"]] for k in layers if _RNN_KEY.match(k)})
    if not _load(report, case, model, "RecurrentModel", new_state):
        return show(report)
    reference_rnn.load_state_dict({k: v.double() for k, v in rnn_values.items()})
    mlp = [(values[(H, directions * H)], values[(H,)]), (values[(1, H)], values[(1,)])]

    def reference(texts: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        packed = pack_padded_sequence(F.embedding(texts, embedding.weight.double()), lengths,
                                      batch_first=True, enforce_sorted=False)
        _, state = reference_rnn(packed)
        h_n = state[0] if isinstance(state, tuple) else state  # (layers * directions, B, H)
        return _mlp(torch.cat(list(h_n[-directions:]), dim=1), mlp)

    _compare_logits(report, case, model, "RecurrentModel", _test_batches(rng, V, B, max_len), reference)
    return show(report)


# ----------------------------------------------------------------------------- training, evaluation

def _loader(rng: np.random.Generator, V: int, B: int, n_batches: int, max_len: int) -> list[tuple]:
    """n_batches of (texts (B, T), labels (B,) int64, lengths (B,)), lengths 1..max_len."""
    batches = []
    for _ in range(n_batches):
        texts, lengths = _batch(rng, V, rng.integers(1, max_len + 1, B))
        batches.append((texts, torch.as_tensor(rng.integers(0, 2, B)), lengths))
    return batches


def _train_oracle(model: nn.Module, loader: list[tuple], optimizer: torch.optim.Optimizer,
                  clip: float) -> float:
    """What a correct train_epoch returns: the mean batch loss of one epoch."""
    losses = []
    for texts, labels, lengths in loader:
        optimizer.zero_grad()
        loss = F.binary_cross_entropy_with_logits(model(texts, lengths), labels.float())
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), clip)
        optimizer.step()
        losses.append(loss.item())
    return float(np.mean(losses))


def check_train_epoch(fn: Any, *, seed: int, B: int, n_batches: int, clip: float = 0.05) -> Report:
    """fn(model, loader, optimizer, clip=...) -> mean batch loss for a small baseline model and
    SGD, against the oracle: 'loss' with clipping that never acts (clip=1e6), 'clipping' with
    ``clip`` small enough to act on every batch."""
    report, rng = _start("train_epoch", seed)
    case = case_label(seed=seed, B=B, n_batches=n_batches)
    model = sentiment.BaselineModel(_embedding(rng, 30, 6), hidden_size=8)
    loader = _loader(rng, 30, B, n_batches, 7)
    for quantity, max_norm in (("loss", 1e6), ("clipping", clip)):
        optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.5)
        ok, loss = call_student(report, case, fn, model, loader, optimizer, clip=max_norm,
                                name="train_epoch", quantities=[quantity],
                                forbidden=(sentiment.train_epoch, _train_oracle))
        if ok:
            # one deep copy keeps the optimizer pointing at the copied model's parameters
            expected = _train_oracle(*copy.deepcopy((model, loader, optimizer)), max_norm)
            report.add(compare(quantity, _as_float(loss), expected, case=f"{case}, clip={max_norm:g}"))
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
    'accuracy', 'f1' (positive class 1) and 'confusion_matrix' (2, 2) with rows = true class,
    predicted positive when the logit is > 0; against scikit-learn. The model is in training mode
    when given (its outputs differ there)."""
    report, rng = _start("evaluate", seed)
    case = case_label(seed=seed, B=B, n_batches=n_batches)
    V = 50
    model = LookupModel(2 * rng.standard_normal(V))
    loader = _loader(rng, V, B, n_batches, 6)
    ok, result = call_student(report, case, fn, model, loader, name="evaluate",
                              forbidden=(sentiment.evaluate,))
    if ok and not isinstance(result, dict):
        report.fail(report.quantities, case, f"evaluate returned a {type(result).__name__}; "
                    "expected a dict with keys 'loss', 'accuracy', 'f1', 'confusion_matrix'")
    elif ok:
        with torch.no_grad():
            logits = torch.cat([model.scores[texts[:, 0]] for texts, _, _ in loader]).double()
        y_true = torch.cat([labels for _, labels, _ in loader]).numpy()
        y_pred = (logits > 0).long().numpy()
        matrix = confusion_matrix(y_true, y_pred, labels=[0, 1])
        if isinstance(result.get("confusion_matrix"), (np.ndarray, torch.Tensor)) and \
                np.asarray(result["confusion_matrix"]).dtype.kind == "f":
            matrix = matrix.astype(np.float64)  # whole-number floats count as counts
        expected = {"loss": F.binary_cross_entropy_with_logits(logits, torch.as_tensor(y_true).double()).item(),
                    "accuracy": accuracy_score(y_true, y_pred), "f1": f1_score(y_true, y_pred),
                    "confusion_matrix": matrix}
        for quantity, value in expected.items():
            if quantity not in result:
                report.add(verdict(quantity, False, f"the result has no key {quantity!r}", case=case))
            else:
                mine = result[quantity] if quantity == "confusion_matrix" else _as_float(result[quantity])
                report.add(compare(quantity, mine, value, case=case))
    return show(report)
