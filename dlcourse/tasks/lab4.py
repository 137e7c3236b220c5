"""Lab 4 (metric embeddings): the graded checks, one per task (see docs/lab4-contract.md).

Every ``check_<task>(student, *, seed, ...)``:

1. seeds ``random``/``np.random``/torch with ``seed`` (``seed_all``) and draws its inputs from
   ``np.random.default_rng(seed)``; the case label names the seed, the sizes and the kind of case;
2. calls the student's code only through ``call_student`` (constructors, methods) and gets the
   gradients of the student's torch code only through ``student_autograd``, so the same check runs
   in the student's kernel or in a grader talking to it;
3. compares each quantity with an oracle: ``torch.nn.TripletMarginLoss`` (float64, autograd) for
   the triplet loss, the images themselves for the dataset; the contrastive loss, the network,
   ``IdentityModel`` and batch-hard mining with the instructors' references
   (``autograder.reference.lab4``) where they are installed, and in the student handout with the
   control outputs recorded from them for the visible cases (``dlcourse.reference.expected``);
4. prints the report and returns it.

Tasks that build on another one run on their own: ``contrastive_loss`` with PyTorch's
``pairwise_distance`` as ``distance`` and ``batch_hard_triplet_loss`` with
``torch.nn.TripletMarginLoss`` as ``triplet_loss`` (``isolate``), in the grader and in the handout
alike: both stand-ins are PyTorch's, not answers.

Distances follow PyTorch (``F.pairwise_distance``): d(x, y) = ||x - y + eps||_2 with eps = 1e-6,
which keeps the gradient defined where x = y.

The dataset check writes a small MNIST of random images (IDX files, torchvision's layout) into a
temporary folder where the student's code runs (a sandboxed grading kernel has its own /tmp) and
gives the student's ``MNISTMetricDataset`` that folder as ``root``: items are compared with the
images, and the samplers' indices are checked against the labels.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache, partial
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from dlcourse import config, reference
from dlcourse.check import (
    Hint,
    RemoteError,
    Report,
    Variant,
    autograd_reference,
    call_student,
    call_student_many,
    case_label,
    case_starter,
    compare,
    isolate,
    run_where,
    show,
    student_autograd,
    verdict,
)
from dlcourse.data import mnist

LAB = "lab4"
T = TypeVar("T")

TASKS: dict[str, int] = {
    "mnist_metric_dataset": 4,
    "triplet_loss": 4,
    "contrastive_loss": 3,
    "simple_metric_embedding": 3,
    "identity_model": 1,
    "batch_hard_triplet_loss": 2,
}
"""Task id -> points: the one place they are declared (``dlcourse.tasks``)."""

BONUS: frozenset[str] = frozenset()
"""No bonus task in this lab."""

QUESTIONS: dict[str, int] = {
    "q_identity_baseline": 1,
    "q_margin": 2,
    "q_distance_normalisation": 2,
    "q_unseen_class": 2,
    "q_batch_hard": 2,
    "q_pca": 1,
}
"""Question id -> points of its written answer, graded by hand (``dlcourse.tasks``)."""

QUANTITIES: dict[str, tuple[str, ...]] = {
    "mnist_metric_dataset": ("items", "positive", "negative", "remove_class"),
    "triplet_loss": ("loss", "grad_anchor", "grad_positive", "grad_negative"),
    "contrastive_loss": ("loss", "grad_x1", "grad_x2"),
    "simple_metric_embedding": ("parameters", "output_shape", "output"),
    "identity_model": ("features",),
    "batch_hard_triplet_loss": ("loss", "grad_embeddings"),
}
"""Task id -> the quantities graded (each one an equal share of the task's points)."""

KINDS = ("ordinary", "zero_distances", "inactive")
"""Kinds of loss cases: random triplets/pairs with some inside and some beyond the margin; every
positive equal to its anchor (zero distances); every triplet/pair beyond the margin (loss 0)."""

# the library losses that would do the triplet loss for the student
_TRIPLET_LIBRARY = (
    F.triplet_margin_loss,
    nn.TripletMarginLoss,
    nn.TripletMarginWithDistanceLoss,
    F.triplet_margin_with_distance_loss,
)
_GAP = (0.2, 0.5)  # how far a triplet or pair is from the margin: eps-sized errors can't flip it
_DRAWS = 40  # per anchor: an anchor drawn as its own positive shows (P > 0.5 up to 58 candidates)
_MIN_DISTINCT_POSITIVES = 8  # of _DRAWS draws from >= 30 candidates (expected > 22)
_MIN_NEGATIVE_CLASSES = 4  # of _DRAWS draws over >= 8 other classes (P(fewer) < 1e-15)
_ZERO_HINT = Hint.plain(
    "where x = y, is your distance PyTorch's ||x - y + eps||_2? It is eps sqrt(D) > 0 there, "
    "with gradient 1/sqrt(D) in each component; without eps, sqrt gives nan and norm gives 0"
)


# ----------------------------------------------------------------------------- oracles
# PyTorch's own, so the handout keeps them: they are not answers


def _triplet_oracle(
    anchor: torch.Tensor, positive: torch.Tensor, negative: torch.Tensor, margin: Any = 1.0
) -> torch.Tensor:
    """PyTorch's TripletMarginLoss: mean_i max(d(a_i, p_i) - d(a_i, n_i) + margin, 0)."""
    return nn.TripletMarginLoss(margin=float(margin))(anchor, positive, negative)


# The usual mistakes, each built from PyTorch's own losses so that no hand-written triplet loss
# (the task's answer, give or take a term) reaches the handout.


def _per_triplet(anchor: Any, positive: Any, negative: Any, margin: float, **kw: Any) -> Any:
    """max(d(a_i, p_i) - d(a_i, n_i) + margin, 0) per triplet, (B,), by the library."""
    return nn.TripletMarginWithDistanceLoss(margin=margin, reduction="none", **kw)(
        anchor, positive, negative
    )


def _triplet_no_eps(anchor: Any, positive: Any, negative: Any, margin: Any = 1.0) -> Any:
    """The distance as a plain norm: its gradient at x = y is 0, not 1/sqrt(D)."""
    plain = partial(torch.linalg.vector_norm, dim=1)
    return _per_triplet(
        anchor, positive, negative, float(margin), distance_function=lambda x, y: plain(x - y)
    ).mean()


def _triplet_squared(anchor: Any, positive: Any, negative: Any, margin: Any = 1.0) -> Any:
    def squared(x: Any, y: Any) -> Any:
        return F.pairwise_distance(x, y) ** 2

    return _per_triplet(anchor, positive, negative, float(margin), distance_function=squared).mean()


def _triplet_differences(anchor: Any, positive: Any, negative: Any) -> Any:
    """d(a_i, p_i) - d(a_i, n_i) per triplet, (B,): the library's loss with a margin c that makes
    every triplet active, less c (max(x + c, 0) - c = x)."""
    c = float(F.pairwise_distance(anchor, negative).max()) + 1.0
    return _per_triplet(anchor, positive, negative, c) - c


def _triplet_unclamped(anchor: Any, positive: Any, negative: Any, margin: Any = 1.0) -> Any:
    return (_triplet_differences(anchor, positive, negative) + float(margin)).mean()


def _triplet_no_margin(anchor: Any, positive: Any, negative: Any, margin: Any = 1.0) -> Any:
    return _triplet_differences(anchor, positive, negative).clamp(min=0).mean()


def _triplet_mean_active(anchor: Any, positive: Any, negative: Any, margin: Any = 1.0) -> Any:
    per = _per_triplet(anchor, positive, negative, float(margin))  # (B,)
    return per.sum() / (per > 0).sum().clamp(min=1)


_TRIPLET_MISTAKES = {
    "do you compare squared distances? (the lecture's loss uses the plain Euclidean "
    "distance)": _triplet_squared,
    "is the max(0, .) missing: do satisfied triplets count with a negative loss?": (
        _triplet_unclamped
    ),
    "is the margin left out?": _triplet_no_margin,
    "do you average over the active triplets only? (the mean is over all B triplets)": (
        _triplet_mean_active
    ),
}
"""The triplet loss as the usual mistakes compute it, by the question each one asks (hints)."""


def _triplet_mistakes(kind: str) -> dict[str, Callable[..., Any]]:
    """The mistakes a case of ``kind`` tests: at zero distances, the eps too (where two fit
    alike, as squared distances and no eps do there, no hint is given)."""
    if kind != "zero_distances":
        return _TRIPLET_MISTAKES
    return {**_TRIPLET_MISTAKES, _ZERO_HINT.text: _triplet_no_eps}


def _distance_oracle(x: torch.Tensor, y: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Row-wise ||x_i - y_i + eps||_2, (B, D) -> (B,): stands in for the student's distance."""
    return F.pairwise_distance(x, y, eps=eps)


# ----------------------------------------------------------------------------- shared steps


def _method(report: Report, case: str, obj: Any, name: str, quantities: list[str]) -> Any:
    """``obj.<name>`` (a method of the student's object, or its proxy), or None after recording
    why it can't be had for ``quantities``."""
    try:
        return getattr(obj, name)
    except Exception as exc:  # no such method, or the student's kernel could not answer
        report.fail(
            quantities,
            case,
            f"{type(obj).__name__}.{name} can't be used: " f"{type(exc).__name__}: {exc}",
        )
        return None


_start = case_starter(QUANTITIES, TASKS)


def _reference(name: str) -> Any | None:
    """The instructors' reference ``name`` of this lab, None where they are not installed."""
    return reference.reference(LAB, name)


def _expected(key: str, compute: Callable[[], T]) -> T:
    """``compute()`` where the references are installed, else the handout's control output."""
    return reference.expected(LAB, key, compute)


def _forbidden(fn: Any, task_reference: str, others: tuple[Any, ...] = ()) -> tuple[Any, ...]:
    """What ``fn`` must not call: ``others`` and the reference named ``task_reference`` where it
    is installed (a local hint: a grader's call watches nothing), unless ``fn`` is the reference
    itself (the release step records control outputs by running the checks on the references)."""
    found = tuple(r for r in reference.installed(LAB, (task_reference,)) if r is not fn)
    return (*found, *others)


def _expected_autograd(
    task: str,
    case: str,
    compute: Callable[[], tuple[Any, dict[str, Any]]],
    wrt: list[str],
    output: str = "loss",
) -> tuple[Any, dict[str, Any]]:
    """(output, {input: gradient}) of the reference, ``compute()`` run once, where the references
    are installed; else the handout's control outputs. One key per quantity:
    ``<task>/<case>/<output>`` and ``<task>/<case>/grad_<input>``."""
    once = cache(compute)
    y = _expected(f"{task}/{case}/{output}", lambda: once()[0])
    grads = {k: _expected(f"{task}/{case}/grad_{k}", lambda k=k: once()[1][k]) for k in wrt}
    return y, grads


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")


def _directions(rng: np.random.Generator, B: int, D: int) -> np.ndarray:
    """(B, D) random unit vectors."""
    v = rng.standard_normal((B, D))
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def _gaps(rng: np.random.Generator, B: int, signs: np.ndarray) -> np.ndarray:
    """(B,) distances to the margin of size in _GAP, with the given signs."""
    return signs * rng.uniform(*_GAP, B)


def _mixed_signs(rng: np.random.Generator, B: int) -> np.ndarray:
    """(B,) +1/-1, both present when B > 1, in random order."""
    return rng.permutation(np.where(np.arange(B) % 2 == 0, -1.0, 1.0))


def _compare_gradients(
    report: Report,
    case: str,
    yours: tuple[Any, dict[str, np.ndarray]],
    expected: tuple[Any, dict[str, np.ndarray]],
    names: dict[str, str],
    *,
    mistakes: dict[str, tuple[Any, dict[str, np.ndarray]]] | None = None,
    **tolerance: float,
) -> None:
    """'loss' and one 'grad_<input>' quantity per input (names: input -> quantity); ``mistakes``:
    question -> (loss, gradients) as that mistake computes them (``dlcourse.check.diagnosis``)."""
    (y, grads), (y_ref, grads_ref) = yours, expected
    mistakes = mistakes or {}
    variants = [Variant(loss, question) for question, (loss, _) in mistakes.items()]
    report.add(compare("loss", y, y_ref, case=case, variants=variants, **tolerance))
    for key, quantity in names.items():
        variants = [Variant(g[key], question) for question, (_, g) in mistakes.items()]
        c = compare(quantity, grads[key], grads_ref[key], case=case, variants=variants, **tolerance)
        report.add(c)


# ----------------------------------------------------------------------------- dataset


def _write_idx(path: Path, data: np.ndarray) -> None:
    """An IDX file of unsigned bytes: magic 0x0000 08 <ndim>, big-endian sizes, the data."""
    sizes = b"".join(int(n).to_bytes(4, "big") for n in data.shape)
    header = bytes([0, 0, 0x08, data.ndim]) + sizes
    path.write_bytes(header + np.ascontiguousarray(data, dtype=np.uint8).tobytes())


def fake_mnist(
    rng: np.random.Generator, n_train: int, n_test: int
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Random-noise 'MNIST': split ('train', 'test') -> (images (n, 28, 28) uint8, labels (n,)
    uint8), labels 0..9 each on a tenth of the images, in random order."""
    data = {}
    for split, n in (("train", n_train), ("test", n_test)):
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        data[split] = images, rng.permutation(np.arange(n) % 10).astype(np.uint8)
    return data


def write_mnist(root: str | Path, data: dict[str, tuple[np.ndarray, np.ndarray]]) -> str:
    """``data`` (as ``fake_mnist`` makes it) as IDX files under ``root/MNIST/raw``
    (torchvision's layout, as :func:`dlcourse.data.mnist.load_mnist` reads it); returns root."""
    raw = Path(root) / "MNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for split, arrays in data.items():
        for name, array in zip(mnist.FILES[split], arrays):
            _write_idx(raw / name, array)
    return str(root)


def _new_mnist_folder(data: dict[str, tuple[np.ndarray, np.ndarray]]) -> str:
    """A new temporary folder with ``data`` as MNIST files (run where the student's code runs)."""
    return write_mnist(tempfile.mkdtemp(prefix="dlcourse-lab4-"), data)


def _remove_folder(folder: str) -> None:
    shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def _student_mnist(student: Any, data: dict[str, tuple[np.ndarray, np.ndarray]]) -> Iterator[str]:
    """A folder with ``data`` as MNIST files where ``student``'s code runs, removed afterwards:
    in the grader that is the student's sandboxed kernel, which sees none of the grader's files
    (its /tmp is its own), so the files are written there."""
    folder = run_where(student, _new_mnist_folder, data)
    try:
        yield folder
    finally:
        run_where(student, _remove_folder, folder)


def _integer(x: Any) -> int | None:
    """x as an int (python or numpy integer, or an integer tensor of one element), else None."""
    if isinstance(x, torch.Tensor) and x.numel() == 1 and not x.is_floating_point():
        return int(x.item())
    if isinstance(x, (int, np.integer)) and not isinstance(x, bool):
        return int(x)
    return None


def _image_problem(what: str, image: Any, expected: np.ndarray | None) -> str | None:
    """Why ``image`` is not a float32 tensor (1, 28, 28) equal to ``expected`` / 255, or None."""
    if not isinstance(image, torch.Tensor):
        return f"{what} is {type(image).__name__}, expected a torch tensor"
    if tuple(image.shape) != (1, 28, 28):
        return f"{what} has shape {tuple(image.shape)}, expected (1, 28, 28) (channel first)"
    if image.dtype != torch.float32:
        return f"{what} has dtype {image.dtype}, expected torch.float32 (the network's dtype)"
    if expected is not None:
        c = compare(what, image.double(), expected.astype(np.float64)[None] / 255.0)
        if not c.ok:
            return f"{c.message.removeprefix(what + ': ')} (expected the image / 255, in [0, 1])"
    return None


def _item_problem(item: Any, i: int, split: str, images: mnist.Split) -> str | None:
    """Why item ``i`` of ``split`` is not (anchor, positive, negative, label) for 'train', else
    (image, label), with image i of the split, or None."""
    n = 4 if split == "train" else 2
    if not (isinstance(item, (tuple, list)) and len(item) == n):
        shape = "(anchor, positive, negative, label)" if n == 4 else "(image, label)"
        return f"ds[{i}] of split '{split}' must be a tuple {shape}, got {type(item).__name__}"
    names = ("anchor", "positive", "negative") if n == 4 else ("image",)
    for k, name in enumerate(names):
        problem = _image_problem(
            f"{name} of ds[{i}] ('{split}')", item[k], images.x[i] if k == 0 else None
        )
        if problem:
            return problem
    if _integer(item[-1]) != images.y[i]:
        return f"label of ds[{i}] ('{split}') is {item[-1]!r}, expected {int(images.y[i])}"
    return None


def _items_problem(
    report: Report,
    case: str,
    ds: Any,
    split: str,
    images: mnist.Split,
    indices: list[int],
    quantity: str,
) -> str | None:
    """Why len(ds) or one of the items is wrong, None if they are right, '' after a failed call
    (already recorded)."""
    length_of, item_of = (
        _method(report, case, ds, name, [quantity]) for name in ("__len__", "__getitem__")
    )
    if length_of is None or item_of is None:
        return ""
    ok, length = call_student(
        report, case, length_of, name="MNISTMetricDataset.__len__", quantities=[quantity]
    )
    if not ok:
        return ""
    if length != len(images.y):
        return f"len(ds) of split '{split}' is {length!r}, expected {len(images.y)}"
    for i in indices:
        ok, item = call_student(
            report, case, item_of, i, quantities=[quantity], name="MNISTMetricDataset.__getitem__"
        )
        if not ok:
            return ""
        problem = _item_problem(item, i, split, images)
        if problem:
            return problem
    return None


def _draw(
    report: Report, case: str, sampler: Any, name: str, i: int, quantity: str
) -> list[Any] | None:
    """_DRAWS results of sampler(i), or None after a failed call (recorded)."""
    ok, drawn = call_student_many(
        report,
        case,
        sampler,
        [(i,)] * _DRAWS,
        name=f"MNISTMetricDataset.{name}",
        quantities=[quantity],
    )
    return drawn if ok else None


def _indices_problem(sampler: str, i: int, drawn: list[Any], n: int) -> str | None:
    for x in drawn:
        j = _integer(x)
        if j is None or not 0 <= j < n:
            return f"{sampler}({i}) returned {x!r}: expected an index into self.images, 0..{n - 1}"
    return None


def _positive_problem(drawn: list[Any], i: int, y: np.ndarray) -> str | None:
    problem = _indices_problem("_sample_positive", i, drawn, len(y))
    if problem:
        return problem
    found = [_integer(x) for x in drawn]
    wrong = [j for j in found if y[j] != y[i]]
    if wrong:
        return (
            f"_sample_positive({i}) (class {y[i]}) returned {wrong[0]}, an image of class "
            f"{y[wrong[0]]}: sample from the anchor's class"
        )
    if i in found:
        return (
            f"_sample_positive({i}) returned the anchor {i} itself ({found.count(i)} of "
            f"{_DRAWS} draws): sample another image of the same class"
        )
    if len(set(found)) < _MIN_DISTINCT_POSITIVES:
        candidates = int((y == y[i]).sum()) - 1
        return (
            f"{_DRAWS} calls of _sample_positive({i}) gave only {len(set(found))} different "
            f"images of {candidates} candidates: sample at random on every call"
        )
    return None


def _negative_problem(drawn: list[Any], i: int, y: np.ndarray) -> str | None:
    problem = _indices_problem("_sample_negative", i, drawn, len(y))
    if problem:
        return problem
    classes = [int(y[_integer(x)]) for x in drawn]
    if y[i] in classes:
        return (
            f"_sample_negative({i}) returned an image of the anchor's class {y[i]}: sample "
            "from the other classes"
        )
    if len(set(classes)) < _MIN_NEGATIVE_CLASSES:
        return (
            f"{_DRAWS} calls of _sample_negative({i}) gave only classes "
            f"{sorted(set(classes))}: sample among all other classes at random on every call"
        )
    return None


def _removed_problem(drawn: list[Any], i: int, y: np.ndarray, removed: int) -> str | None:
    """Why negatives drawn from a dataset without class ``removed`` are not all of the others."""
    problem = _indices_problem("_sample_negative", i, drawn, len(y))
    if problem is None and any(y[_integer(x)] == removed for x in drawn):
        problem = f"_sample_negative({i}) returned an image of class {removed}, which was removed"
    return problem


def _record(report: Report, quantity: str, case: str, problem: str | None, ok_text: str) -> None:
    """A verdict from a problem (None: passes; '': a failed call, already recorded)."""
    if problem != "":
        report.add(verdict(quantity, problem is None, problem or ok_text, case=case))


def _some(rng: np.random.Generator, n: int, k: int = 3) -> list[int]:
    """The first and the last index and k - 2 random ones, of range(n)."""
    return sorted({0, n - 1, *map(int, rng.integers(0, n, max(k - 2, 0)))})


def check_mnist_metric_dataset(
    MNISTMetricDataset: Any,
    *,
    seed: int,
    n_train: int = 480,
    n_test: int = 60,
    remove_class: int = 0,
) -> Report:
    """``MNISTMetricDataset(root, split, remove_class)`` on a small random MNIST written for the
    check (``n_train`` >= 400 training images: ~36 per class after the validation split).

    'items': len and items of the 'train' (anchor, positive, negative, label), 'traineval' and
    'test' ((image, label)) splits: image i of load_mnist's split as float32 (1, 28, 28) / 255,
    label i. 'positive': ``_sample_positive(i)`` is the index of an image of i's class, never i,
    random on every call. 'negative': ``_sample_negative(i)`` is an image of another class, random
    among them. 'remove_class': 'train' without that class (order kept), no negative of it.
    """
    if n_train < 400:
        raise ValueError("n_train must be >= 400: the sampling checks need ~36 images per class")
    report, rng = _start("mnist_metric_dataset", seed)
    case = case_label(seed=seed, n_train=n_train, n_test=n_test, remove_class=remove_class)
    files = fake_mnist(rng, n_train, n_test)
    with tempfile.TemporaryDirectory(prefix="dlcourse-lab4-") as root:  # the check's own copy
        data = mnist.load_mnist(write_mnist(root, files), download=False)
    splits = {"train": data.train, "traineval": data.train, "test": data.test}
    try:
        datasets, without = _student_datasets(report, case, MNISTMetricDataset, files, remove_class)
    except RemoteError as exc:  # the kernel died or hung: nothing to grade
        report.fail(report.quantities, case, str(exc))
        return show(report)
    kept = data.train.y != remove_class
    _check_items(report, case, datasets, splits, rng)
    if datasets["train"] is not None:
        _check_sampling(report, case, datasets["train"], data.train.y, rng)
    if without is not None:
        _check_removed(
            report,
            case,
            without,
            mnist.Split(data.train.x[kept], data.train.y[kept]),
            remove_class,
            rng,
        )
    return show(report)


def _student_datasets(
    report: Report,
    case: str,
    MNISTMetricDataset: Any,
    files: dict[str, tuple[np.ndarray, np.ndarray]],
    remove_class: int,
) -> tuple[dict[str, Any], Any]:
    """The student's datasets of every split, and 'train' without ``remove_class``, built on
    ``files`` (None where the constructor failed: recorded)."""
    datasets = {}
    with _student_mnist(MNISTMetricDataset, files) as root:
        for split in ("train", "traineval", "test"):
            _, datasets[split] = call_student(
                report,
                case,
                MNISTMetricDataset,
                root,
                split,
                None,
                name="MNISTMetricDataset",
                quantities=["items", "positive", "negative"] if split == "train" else ["items"],
            )
        _, without = call_student(
            report,
            case,
            MNISTMetricDataset,
            root,
            "train",
            remove_class,
            name="MNISTMetricDataset",
            quantities=["remove_class"],
        )
    return datasets, without


def _check_items(
    report: Report,
    case: str,
    datasets: dict[str, Any],
    splits: dict[str, mnist.Split],
    rng: np.random.Generator,
) -> None:
    for split, ds in datasets.items():
        if ds is None:
            return  # already recorded
        problem = _items_problem(
            report, case, ds, split, splits[split], _some(rng, len(splits[split].y)), "items"
        )
        if problem is not None:
            _record(report, "items", case, problem, "")
            return
    report.add(
        verdict("items", True, "lengths and items of 'train', 'traineval' and 'test'", case=case)
    )


def _check_sampling(
    report: Report, case: str, ds: Any, y: np.ndarray, rng: np.random.Generator
) -> None:
    problems = {"positive": None, "negative": None}
    samplers = [
        (quantity, f"_sample_{quantity}", judge)
        for quantity, judge in (("positive", _positive_problem), ("negative", _negative_problem))
    ]
    methods = {
        quantity: _method(report, case, ds, name, [quantity]) for quantity, name, _ in samplers
    }
    problems = {quantity: "" if method is None else None for quantity, method in methods.items()}
    for i in _some(rng, len(y), 4):
        for quantity, name, judge in samplers:
            if problems[quantity] is None:
                drawn = _draw(report, case, methods[quantity], name, i, quantity)
                problems[quantity] = "" if drawn is None else judge(drawn, i, y)
    _record(report, "positive", case, problems["positive"], "same class, another image, random")
    _record(report, "negative", case, problems["negative"], "other classes, random")


def _check_removed(
    report: Report,
    case: str,
    ds: Any,
    images: mnist.Split,
    remove_class: int,
    rng: np.random.Generator,
) -> None:
    problem = _items_problem(
        report, case, ds, "train", images, _some(rng, len(images.y)), "remove_class"
    )
    sampler = (
        _method(report, case, ds, "_sample_negative", ["remove_class"]) if problem is None else None
    )
    problem = "" if problem is None and sampler is None else problem
    for i in _some(rng, len(images.y), 2) if problem is None else []:
        drawn = _draw(report, case, sampler, "_sample_negative", i, "remove_class")
        problem = "" if drawn is None else _removed_problem(drawn, i, images.y, remove_class)
        if problem is not None:
            break
    problem = problem and f"{problem} (remove_class={remove_class})"  # '': already recorded
    _record(
        report,
        "remove_class",
        case,
        problem,
        f"class {remove_class} is gone from the items and the negatives",
    )


# ----------------------------------------------------------------------------- losses


def _triplet_inputs(
    rng: np.random.Generator, B: int, D: int, margin: float, kind: str
) -> dict[str, Any]:
    """Anchors, positives and negatives (B, D) of the given kind (see KINDS)."""
    anchor = rng.standard_normal((B, D))
    if kind == "zero_distances":
        positive = anchor.copy()
        far = rng.uniform(0.2, 0.8, (B, 1)) * margin * _directions(rng, B, D)
        negative = np.where(np.arange(B)[:, None] % 2 == 0, anchor, anchor + far)
        return dict(anchor=anchor, positive=positive, negative=negative, margin=margin)
    positive = anchor + rng.uniform(0.3, 1.5, (B, 1)) * _directions(rng, B, D)
    d_ap = np.linalg.norm(anchor - positive, axis=1)  # (B,)
    signs = np.ones(B) if kind == "inactive" else _mixed_signs(rng, B)
    # loss_i = d_ap - d_an + margin = -gap_i: active where the gap is negative
    d_an = d_ap + margin + _gaps(rng, B, signs)
    negative = anchor + d_an[:, None] * _directions(rng, B, D)
    return dict(anchor=anchor, positive=positive, negative=negative, margin=margin)


def check_triplet_loss(
    fn: Any, *, seed: int, B: int, D: int, margin: float = 1.0, kind: str = "ordinary"
) -> Report:
    """loss = fn(anchor, positive, negative, margin) for (B, D) float64 tensors, and its gradients
    with respect to the three inputs, against torch.nn.TripletMarginLoss (``kind``: see KINDS)."""
    _check_kind(kind)
    report, rng = _start("triplet_loss", seed)
    case = case_label(
        seed=seed,
        B=B,
        D=D,
        margin=None if margin == 1 else margin,
        kind=None if kind == "ordinary" else kind,
    )
    inputs = _triplet_inputs(rng, B, D, margin, kind)
    wrt = ["anchor", "positive", "negative"]
    forbidden = _forbidden(fn, "triplet_loss", _TRIPLET_LIBRARY + (_triplet_oracle,))
    ok, y, grads = student_autograd(
        report, case, fn, inputs, wrt, name="triplet_loss", seed=seed, forbidden=forbidden
    )
    if ok:
        _compare_gradients(
            report,
            case,
            (y, grads),
            autograd_reference(_triplet_oracle, inputs, wrt, seed=seed),
            {k: f"grad_{k}" for k in wrt},
            mistakes={
                question: autograd_reference(mistake, inputs, wrt, seed=seed)
                for question, mistake in _triplet_mistakes(kind).items()
            },
        )
    return show(report)


def _pair_inputs(
    rng: np.random.Generator, B: int, D: int, margin: float, kind: str
) -> dict[str, Any]:
    """Pairs x1, x2 (B, D) and same (B,) 0/1 of the given kind (see KINDS)."""
    x1 = rng.standard_normal((B, D))
    same = rng.permutation(np.arange(B) % 2)  # half positive pairs
    if kind == "zero_distances":
        return dict(x1=x1, x2=x1.copy(), same=same, margin=margin)
    if kind == "inactive":  # negative pairs beyond the margin: nothing to pull or push
        same = np.zeros(B, dtype=np.int64)
        d = margin + _gaps(rng, B, np.ones(B))
    else:  # positive pairs anywhere; negative pairs inside and beyond the margin
        d = np.where(
            same == 1, rng.uniform(0.2, 2.0, B), margin + _gaps(rng, B, _mixed_signs(rng, B))
        )
    x2 = x1 + d[:, None] * _directions(rng, B, D)
    return dict(x1=x1, x2=x2, same=same, margin=margin)


def check_contrastive_loss(
    fn: Any, *, seed: int, B: int, D: int, margin: float = 1.0, kind: str = "ordinary"
) -> Report:
    """loss = fn(x1, x2, same, margin) for (B, D) float64 tensors and int64 same (B,), and its
    gradients with respect to x1 and x2, against the reference's
    mean_i [same_i d_i^2 + (1 - same_i) max(margin - d_i, 0)^2] (``kind``: see KINDS). Runs with
    PyTorch's ``pairwise_distance`` as ``distance`` (when the student's code has one)."""
    _check_kind(kind)
    report, rng = _start("contrastive_loss", seed)
    case = case_label(
        seed=seed,
        B=B,
        D=D,
        margin=None if margin == 1 else margin,
        kind=None if kind == "ordinary" else kind,
    )
    inputs = _pair_inputs(rng, B, D, margin, kind)
    wrt = ["x1", "x2"]
    with isolate(fn, distance=_distance_oracle):  # the distance is graded in triplet_loss
        ok, y, grads = student_autograd(
            report,
            case,
            fn,
            inputs,
            wrt,
            name="contrastive_loss",
            seed=seed,
            forbidden=_forbidden(fn, "contrastive_loss"),
        )
    if ok:
        loss = _reference("contrastive_loss")
        _compare_gradients(
            report,
            case,
            (y, grads),
            _expected_autograd(
                "contrastive_loss",
                case,
                lambda: autograd_reference(loss, inputs, wrt, seed=seed),
                wrt,
            ),
            {k: f"grad_{k}" for k in wrt},
        )
    return show(report)


def _batch_inputs(
    rng: np.random.Generator, B: int, D: int, C: int, margin: float, singleton: bool
) -> dict[str, Any]:
    """Embeddings (B, D) around C class centres and labels (B,) with every class at least twice
    (one class once when ``singleton``: that anchor has no positive)."""
    if B < 2 * C:
        raise ValueError(f"B must be >= 2 C (every class twice): B={B}, C={C}")
    labels = np.arange(B) % C
    if singleton:
        labels[C:][labels[C:] == C - 1] = 0  # class C-1 keeps only its first member
    labels = rng.permutation(labels)
    centres = rng.standard_normal((C, D)) * margin  # some anchors active, some not
    return dict(
        embeddings=centres[labels] + 0.4 * margin * rng.standard_normal((B, D)),
        labels=labels,
        margin=margin,
    )


def check_batch_hard_triplet_loss(
    fn: Any, *, seed: int, B: int, D: int, C: int, margin: float = 1.0, singleton: bool = False
) -> Report:
    """loss = fn(embeddings, labels, margin) for embeddings (B, D) float64 and int64 labels (B,),
    and its gradient, against the triplet loss of each anchor with a positive and a negative in
    the batch, its farthest positive and nearest negative (the reference's). Runs with
    ``torch.nn.TripletMarginLoss`` as ``triplet_loss``; distances with or without PyTorch's eps
    both pass (rtol 1e-4)."""
    report, rng = _start("batch_hard_triplet_loss", seed)
    case = case_label(
        seed=seed,
        B=B,
        D=D,
        C=C,
        margin=None if margin == 1 else margin,
        singleton=singleton or None,
    )
    inputs = _batch_inputs(rng, B, D, C, margin, singleton)
    wrt = ["embeddings"]
    with isolate(fn, triplet_loss=_triplet_oracle):  # its own task
        ok, y, grads = student_autograd(
            report,
            case,
            fn,
            inputs,
            wrt,
            name="batch_hard_triplet_loss",
            seed=seed,
            forbidden=_forbidden(fn, "batch_hard_triplet_loss"),
        )
    if ok:
        loss = _reference("batch_hard_triplet_loss")
        _compare_gradients(
            report,
            case,
            (y, grads),
            _expected_autograd(
                "batch_hard_triplet_loss",
                case,
                lambda: autograd_reference(loss, inputs, wrt, seed=seed),
                wrt,
            ),
            {"embeddings": "grad_embeddings"},
            atol=1e-5,
            rtol=1e-4,
        )
    return show(report)


# ----------------------------------------------------------------------------- models


def _plain_dict(mapping: Any) -> dict[str, Any] | None:
    """A dict copy of a mapping, also of a grader's proxy of one (an OrderedDict such as a
    state_dict comes back as a proxy: only plain dicts travel by value); None if it is none."""
    try:
        return {key: mapping[key] for key in mapping}
    except Exception:  # not a mapping: _layout says so
        return None


def _layout(state: Any, C: int, E: int) -> tuple[list[str], list[str]] | str:
    """(batch-norm module names, conv module names) of a state dict in registration order, or
    why it is not the lab's network: BatchNorm2d of C, E, E channels and Conv2d C->E, E->E,
    E->E with 3x3 kernels and biases, nothing else."""
    if state is None or not all(isinstance(v, torch.Tensor) for v in state.values()):
        return "state_dict() did not return a dict of tensors (keep nn.Module's own state_dict)"
    modules = list(dict.fromkeys(key.rpartition(".")[0] for key in state))
    norms = [m for m in modules if f"{m}.running_mean" in state]
    convs = [
        m
        for m in modules
        if m not in norms
        and state.get(f"{m}.weight") is not None
        and state[f"{m}.weight"].dim() == 4
    ]
    others = [m or "(the model itself)" for m in modules if m not in norms + convs]
    if others:
        return (
            f"unexpected layers or parameters: {others}; the network has only BatchNorm2d "
            "and Conv2d layers"
        )
    if len(norms) != 3 or len(convs) != 3:
        return f"found {len(norms)} BatchNorm2d and {len(convs)} Conv2d layers, expected 3 of each"
    for k, (norm, conv) in enumerate(zip(norms, convs)):
        channels = C if k == 0 else E
        for key in ("weight", "bias"):
            if f"{norm}.{key}" not in state:
                return f"BatchNorm2d '{norm}' has no {key}: keep affine=True"
        if tuple(state[f"{norm}.weight"].shape) != (channels,):
            return (
                f"BatchNorm2d '{norm}' normalises {len(state[f'{norm}.weight'])} channels, "
                f"expected {channels}: normalisation comes before the convolution"
            )
        if tuple(state[f"{conv}.weight"].shape) != (E, channels, 3, 3):
            return (
                f"Conv2d '{conv}' has weight {tuple(state[f'{conv}.weight'].shape)}, "
                f"expected {(E, channels, 3, 3)}"
            )
        if f"{conv}.bias" not in state:
            return f"Conv2d '{conv}' has no bias: use bias=True"
    return norms, convs


def _network_weights(
    rng: np.random.Generator, C: int, E: int
) -> dict[str, list[dict[str, torch.Tensor]]]:
    """Weights for the lab's network, drawn: 'norms' and 'convs', one {'weight', 'bias'} per
    block in order. BatchNorm scales near 1, convolutions as PyTorch initialises them; float32
    values, so that loading them into a float32 model and then running it in float64 is exact."""
    weights: dict[str, list[dict[str, torch.Tensor]]] = {"norms": [], "convs": []}
    for channels in (C, E, E):
        bound = 1 / np.sqrt(9 * channels)  # fan-in of a 3x3 convolution
        norm = dict(
            weight=rng.uniform(0.5, 1.5, channels), bias=0.1 * rng.standard_normal(channels)
        )
        conv = dict(
            weight=rng.uniform(-bound, bound, (E, channels, 3, 3)),
            bias=rng.uniform(-bound, bound, E),
        )
        for kind, values in (("norms", norm), ("convs", conv)):
            weights[kind].append(
                {k: torch.as_tensor(v, dtype=torch.float32) for k, v in values.items()}
            )
    return weights


def _named(
    layout: tuple[list[str], list[str]], weights: dict[str, list[dict[str, torch.Tensor]]]
) -> dict[str, torch.Tensor]:
    """``weights`` under the state-dict keys of a network whose ``_layout`` is ``layout``."""
    norms, convs = layout
    return {
        f"{module}.{key}": value
        for kind, modules in (("norms", norms), ("convs", convs))
        for module, values in zip(modules, weights[kind])
        for key, value in values.items()
    }


def _reference_features(
    weights: dict[str, list[dict[str, torch.Tensor]]],
    inputs: dict[str, Any],
    C: int,
    E: int,
    seed: int,
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Output and input gradient of the reference network with ``weights``, in training mode."""
    model = _reference("SimpleMetricEmbedding")(C, emb_size=E)
    state = model.state_dict()
    model.load_state_dict({**state, **_named(_layout(state, C, E), weights)})
    model = model.double().to(config.device()).train()
    return autograd_reference(model.get_features, inputs, ["img"], seed=seed)


def check_simple_metric_embedding(
    SimpleMetricEmbedding: Any,
    *,
    seed: int,
    B: int,
    input_channels: int = 1,
    emb_size: int = 32,
    H: int = 28,
    W: int = 28,
) -> Report:
    """``SimpleMetricEmbedding(input_channels, emb_size=...)``: 'parameters': its state dict is
    three BatchNorm2d and three 3x3 Conv2d (with bias) of the lab's channels; 'output_shape':
    get_features(img) is (B, emb_size), also for B = 1; 'output': with weights drawn by the check
    (``load_state_dict``), its values and the gradient with respect to img (random upstream
    gradient) equal the reference network's with the same weights, in training mode
    (H, W >= 23)."""
    report, rng = _start("simple_metric_embedding", seed)
    case = case_label(
        seed=seed,
        B=B,
        input_channels=input_channels,
        emb_size=emb_size,
        H=None if H == 28 else H,
        W=None if W == 28 else W,
    )
    weights = _network_weights(rng, input_channels, emb_size)
    ok, model = call_student(
        report,
        case,
        SimpleMetricEmbedding,
        input_channels,
        emb_size=emb_size,
        name="SimpleMetricEmbedding",
    )
    if ok:
        state_dict = _method(report, case, model, "state_dict", ["parameters", "output"])
        # into a plain dict: it comes back from a grader's kernel in one piece (an OrderedDict
        # would come back as a proxy, read entry by entry)
        ok, state = (
            call_student(
                report,
                case,
                state_dict,
                destination={},
                quantities=["parameters"],
                name="SimpleMetricEmbedding.state_dict",
            )
            if state_dict is not None
            else (False, None)
        )
        state = _plain_dict(state) if ok else None
        layout = _layout(state, input_channels, emb_size) if ok else None
        if isinstance(layout, str):
            report.fail(["parameters", "output"], case, layout)
        elif layout is not None:
            report.add(
                verdict("parameters", True, "3 x (BatchNorm2d, ReLU, 3x3 Conv2d)", case=case)
            )
            if not _load(report, case, model, {**state, **_named(layout, weights)}):
                layout = None  # 'output' failed: only the shape is left to check
        _check_features(
            report, case, model, layout, weights, rng, B, input_channels, emb_size, H, W
        )
    return show(report)


def _load(report: Report, case: str, model: Any, state: dict[str, torch.Tensor]) -> bool:
    """``model.load_state_dict(state)``; False after recording why it failed for 'output'."""
    load = _method(report, case, model, "load_state_dict", ["output"])
    ok, _ = (
        (False, None)
        if load is None
        else call_student(
            report,
            case,
            load,
            state,
            quantities=["output"],
            name="SimpleMetricEmbedding.load_state_dict",
        )
    )
    return ok


def _check_features(
    report: Report,
    case: str,
    model: Any,
    layout: Any,
    weights: dict[str, list[dict[str, torch.Tensor]]],
    rng: np.random.Generator,
    B: int,
    C: int,
    E: int,
    H: int,
    W: int,
) -> None:
    """'output_shape' and, when the layout is the lab's (``weights`` loaded), 'output' of
    model.get_features."""
    quantities = ["output_shape", "output"] if isinstance(layout, tuple) else ["output_shape"]
    train, get_features = (
        _method(report, case, model, name, quantities) for name in ("train", "get_features")
    )
    if train is None or get_features is None:
        return
    ok, _ = call_student(
        report, case, train, quantities=quantities, name="SimpleMetricEmbedding.train"
    )
    inputs, upstream_seed = dict(img=rng.random((B, C, H, W))), int(rng.integers(2**31))
    ok, y, grads = (
        student_autograd(
            report,
            case,
            get_features,
            inputs,
            ["img"],
            module=model,
            name="SimpleMetricEmbedding.get_features",
            seed=upstream_seed,
            quantities=quantities,
        )
        if ok
        else (False, None, {})
    )
    if not ok:
        return
    shape_ok = y.shape == (B, E)
    report.add(
        verdict(
            "output_shape",
            shape_ok,
            f"get_features(img) has shape {y.shape}"
            + (
                ""
                if shape_ok
                else f", expected {(B, E)}: one row per image, also for "
                "B = 1 (squeeze() drops it)"
            ),
            case=case,
        )
    )
    if not isinstance(layout, tuple):
        return
    if y.size != B * E:
        report.add(
            verdict(
                "output",
                False,
                f"get_features(img) has {y.size} values, expected " f"{B * E}",
                case=case,
            )
        )
        return
    # same seed: the upstream gradient has the same numbers whether y is (B, E) or squeezed
    y_ref, grads_ref = _expected_autograd(
        "simple_metric_embedding",
        case,
        lambda: _reference_features(weights, inputs, C, E, upstream_seed),
        ["img"],
        "output",
    )
    report.add(compare("output", y.reshape(B, E), y_ref, case=case))
    report.add(compare("output", grads["img"], grads_ref["img"], case=case + ", d/d img"))


def check_identity_model(
    IdentityModel: Any, *, seed: int, B: int, C: int = 1, H: int = 28, W: int = 28
) -> Report:
    """'features': IdentityModel().get_features(img) equals the reference's, img (B, C, H, W)
    flattened to (B, C*H*W), also for B = 1."""
    report, rng = _start("identity_model", seed)
    case = case_label(seed=seed, B=B, C=C, H=H, W=W)
    img = torch.as_tensor(rng.random((B, C, H, W)))  # float64
    ok, model = call_student(report, case, IdentityModel, name="IdentityModel")
    get_features = _method(report, case, model, "get_features", ["features"]) if ok else None
    ok, features = (
        call_student(report, case, get_features, img, name="IdentityModel.get_features")
        if get_features is not None
        else (False, None)
    )
    if ok:
        identity = _reference("IdentityModel")
        report.add(
            compare(
                "features",
                features,
                _expected(f"identity_model/{case}/features", lambda: identity().get_features(img)),
                case=case,
            )
        )
    return show(report)
