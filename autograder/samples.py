"""Sample submissions, generated from the solutions like the labs, with the scores they must get.

- ``reference``: the student notebook with the instructors' solutions filled in (code and model
  answers) -> full marks on the automatic part, its written answers waiting for a TA.
- ``untouched``: the student notebook as released -> 0, and no answer to grade ("No response.").
- ``flawed``: the reference with realistic mistakes (``FLAWS``) -> loses exactly their points;
  its answers wait for a TA too.

Written answers are graded by hand (formgrader), never by ``autograde``: their expected score is
0 until then, and ``mismatches`` checks which of them wait for a TA.

``python -m autograder assign`` writes them to
``autograder/sample_submissions/<student>/<lab>/<lab>.ipynb``
(a folder laid out like any class's submissions); the demo and the tests grade those files.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path

import nbformat

from dlcourse import tasks as declared

from .preprocessors import SOLUTION_SUFFIX, grade_id, is_written_answer

SAMPLES_DIR = Path(__file__).resolve().parent / "sample_submissions"


@dataclass(frozen=True)
class Flaw:
    """Replace ``old`` by ``new`` (exactly once) in a solution cell; costs these points per task."""

    cell: str
    old: str
    new: str
    why: str
    costs: dict[str, float]


FLAWS: dict[str, list[Flaw]] = {
    "lab0": [
        Flaw(
            cell="binlogreg_loss_grad_code",
            old="grad_w = X.T @ grad_s + 2 * param_lambda * w",
            new="grad_w = -X.T @ grad_s + 2 * param_lambda * w",
            why="wrong sign of the data term of dL/dw",
            costs={"binlogreg_loss_grad": 1.0},
        ),
        Flaw(
            cell="logreg_loss_grad_code",
            old="loss = np.mean(logsumexp - S[rows, Y_]) + param_lambda * np.sum(W ** 2)",
            new="loss = np.sum(logsumexp - S[rows, Y_]) + param_lambda * np.sum(W ** 2)",
            why="forgot to average the negative log-likelihood over N",
            costs={"logreg_loss_grad": 1.0},
        ),
    ],
    "lab1": [
        Flaw(
            cell="fcann2_loss_grad_code",
            old="grad_A1 = (grad_S @ W2) * (A1 > 0)  # (N, H): the ReLU passes the gradient "
            "where it was active",
            new="grad_A1 = grad_S @ W2  # (N, H)",
            why="backpropagated through the ReLU as if it were the identity (no mask)",
            costs={"fcann2_loss_grad": 2.0},
        ),
        Flaw(
            cell="train_mb_code",
            old="order = torch.randperm(N, device=X.device)  # a new order every epoch",
            new="order = torch.arange(N, device=X.device)  # the stored order",
            why="mini-batches in the stored order, never shuffled",
            costs={"train_mb": 1.0},
        ),
    ],
    "lab2": [
        Flaw(
            cell="fc_code",
            old="grad_weights = grad_out.T @ self.x  # (M, D)",
            new="grad_weights = self.x.T @ grad_out  # (M, D)",
            why="transposed weight gradient: (D, M) instead of (M, D), wrong values when square",
            costs={"fc": 1.0},
        ),
        Flaw(
            cell="softmax_cross_entropy_with_logits_code",
            old="shifted = x - x.max(axis=1, keepdims=True)  # (N, C), every exponent <= 0",
            new="shifted = x  # (N, C)",
            why="softmax without subtracting the row maximum: overflows on large logits",
            costs={"softmax_cross_entropy_with_logits": 1.0},
        ),
        Flaw(
            cell="softmax_cross_entropy_with_logits_code",
            old="exps = np.exp(x - x.max(axis=1, keepdims=True))  # (N, C), no overflow",
            new="exps = np.exp(x)  # (N, C)",
            why="the same overflow in the gradient (the same quantity, large_logits, fails)",
            costs={},
        ),
        Flaw(
            cell="evaluate_code",
            old="np.add.at(confusion, (y, predicted), 1)  # one count per (true, predicted) pair",
            new="np.add.at(confusion, (predicted, y), 1)  # one count per (true, predicted) pair",
            why="transposed confusion matrix (rows the predicted class): precision and recall, "
            "read off it with the lab's formulas, swap (3 of evaluate's 6 quantities)",
            costs={"evaluate": 1.5},
        ),
    ],
    "lab3": [
        Flaw(
            cell="rnn_backward_code",
            old="dh = d_out[:, t] @ W_hy.T + delta_next  # from the output at t and from step t+1",
            new="dh = d_out[:, t] @ W_hy.T  # from the output at t",
            why="BPTT drops the gradient flowing back from future steps: every gradient but "
            "those of the output layer is wrong",
            costs={"rnn_backward": 5.0},
        ),
        Flaw(
            cell="vocab_code",
            old="kept = [token for token in ranked if frequencies[token] >= min_freq]",
            new="kept = [token for token in ranked if frequencies[token] > min_freq]",
            why="min_freq as a strict bound: tokens seen exactly min_freq times are dropped",
            costs={"vocab": 1.0},
        ),
        Flaw(
            cell="recurrent_model_code",
            old="_, state = self.rnn(packed)",
            new="_, state = self.rnn(x)",
            why="packs the batch but runs the RNN on the padded one: the final state of a short "
            "sentence comes after its padding",
            costs={"recurrent_model": 1.0},
        ),
    ],
    "lab4": [
        Flaw(
            cell="mnist_metric_dataset_code",
            old="        while positive == index:  # the anchor itself is no positive\n"
            "            positive = random.choice(candidates)",
            new="        positive = random.choice(candidates)",
            why="the positive may be the anchor itself",
            costs={"mnist_metric_dataset": 1.0},
        ),
        Flaw(
            cell="triplet_loss_code",
            old="losses = distance(anchor, positive) - distance(anchor, negative) + margin  # (B,)",
            new="losses = distance(anchor, positive) - distance(anchor, negative)  # (B,)",
            why="dropped the margin",
            costs={"triplet_loss": 4.0},
        ),
        Flaw(
            cell="simple_metric_embedding_code",
            old="return F.adaptive_avg_pool2d(x, 1).flatten(start_dim=1)  # (B, E)",
            new="return F.adaptive_avg_pool2d(x, 1).squeeze()  # (B, E)",
            why="squeeze() also drops the batch dimension when B = 1",
            costs={"simple_metric_embedding": 1.0},
        ),
    ],
}


def reference(
    release: nbformat.NotebookNode, solution: nbformat.NotebookNode
) -> nbformat.NotebookNode:
    """The released notebook with every solution cell (code, and written answers) taken from
    the instructors' notebook."""
    solved = {
        grade_id(c): _without_markers(c.source)
        for c in solution.cells
        if (grade_id(c) or "").endswith(SOLUTION_SUFFIX) or is_written_answer(c)
    }
    nb = copy.deepcopy(release)
    for cell in nb.cells:
        if grade_id(cell) in solved:
            cell.source = solved[grade_id(cell)]
    return nb


def _without_markers(source: str) -> str:
    """The solution as a student would type it: nbgrader's BEGIN/END SOLUTION lines removed."""
    return "\n".join(
        line
        for line in source.split("\n")
        if "### BEGIN SOLUTION" not in line and "### END SOLUTION" not in line
    )


def flawed(nb: nbformat.NotebookNode, flaws: list[Flaw]) -> nbformat.NotebookNode:
    """Apply each flaw to its cell; fails loudly when a solution changed under it."""
    nb = copy.deepcopy(nb)
    cells = {grade_id(c): c for c in nb.cells if grade_id(c)}
    for flaw in flaws:
        source = cells[flaw.cell].source
        if source.count(flaw.old) != 1:
            raise ValueError(
                f"sample flaw for '{flaw.cell}' no longer matches the solution: "
                f"expected the line {flaw.old!r} once; update autograder/samples.py"
            )
        cells[flaw.cell].source = source.replace(flaw.old, flaw.new)
    return nb


def build(
    lab: str, release: nbformat.NotebookNode, solution: nbformat.NotebookNode
) -> dict[str, nbformat.NotebookNode]:
    """student id -> sample notebook for one lab."""
    solved = reference(release, solution)
    return {
        "reference": solved,
        "untouched": copy.deepcopy(release),
        "flawed": flawed(solved, FLAWS.get(lab, [])),
    }


def expected_scores(lab: str, tasks: list[tuple[str, float]]) -> dict[str, dict[str, float]]:
    """student id -> task -> the score that sample must get from ``autograde`` (a written answer:
    0, until a TA grades it)."""
    asked = declared.questions(lab)
    full = {task: 0.0 if task in asked else points for task, points in tasks}
    flawed_scores = dict(full)
    for flaw in FLAWS.get(lab, []):
        for task, cost in flaw.costs.items():
            flawed_scores[task] -= cost
    return {"reference": full, "untouched": dict.fromkeys(full, 0.0), "flawed": flawed_scores}


def expected_pending(lab: str) -> dict[str, list[str]]:
    """student id -> the written answers that must wait for a TA: the answered ones."""
    asked = list(declared.questions(lab))
    return {"reference": asked, "untouched": [], "flawed": asked}


def mismatches(
    lab: str,
    tasks: list[tuple[str, float]],
    rows: dict[str, dict[str, float]],
    pending: dict[str, list[str]] | None = None,
) -> list[str]:
    """Where graded sample scores (student -> ``lab:task`` -> score) differ from the expected,
    and (given ``pending``: student -> ``lab:task`` of the answers waiting for a TA) where the
    written answers waiting differ."""
    wrong = []
    for student, expected in expected_pending(lab).items() if pending is not None else ():
        mine = [name for name in pending.get(student, []) if name.startswith(f"{lab}:")]
        got = sorted(name.split(":", 1)[1] for name in mine)
        if got != sorted(expected):
            wrong.append(f"{student}/{lab}: answers waiting for a TA {got}, expected {expected}")
    for student, expected in expected_scores(lab, tasks).items():
        for task, score in expected.items():
            got = rows.get(student, {}).get(f"{lab}:{task}")
            if got is None or abs(got - score) > 1e-9:
                wrong.append(f"{student}/{lab}:{task} scored {got}, expected {score:g}")
    return wrong
