"""Lab 3 benchmark: SST test accuracy of the baseline and the recurrent models over several seeds.

    DLCOURSE_DATA=../shared/data nice python benchmarks/lab3_sst.py
    python benchmarks/lab3_sst.py --models baseline gru --seeds 5 --epochs 5 \
        --glove path/to/300d.txt

The course's set-up: vocabulary built on train, GloVe vectors (the 50-d ones of $DLCOURSE_DATA/sst
unless --glove names another file, e.g. 300-d), Adam (step 1e-3: with 50-d vectors it beats the
course's 1e-4 on validation), batches of 10 (32 to evaluate), gradient clipping 0.25, two-layer
recurrent models of 150 units, one logit per sentence. Every run trains
``--epochs`` epochs from its seed and is tested after the last one. Prints one row per model: test
accuracy and F1 (mean and standard deviation over seeds), the best epoch's validation accuracy, and
the seconds one training epoch takes on this machine, also as a ratio to the baseline's (measured in
the same run, so comparable across machines). Instructor-side: it trains the instructors'
references (``autograder.reference.lab3``), which the student handout does not contain.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from autograder.reference import lab3 as reference
from dlcourse.check import seed_all
from dlcourse.data import sst

MODELS: dict[str, Callable[[nn.Embedding], nn.Module]] = {
    "baseline": lambda emb: reference.BaselineModel(emb),
    "rnn": lambda emb: reference.RecurrentModel(emb, "rnn"),
    "gru": lambda emb: reference.RecurrentModel(emb, "gru"),
    "lstm": lambda emb: reference.RecurrentModel(emb, "lstm"),
    "bigru": lambda emb: reference.RecurrentModel(emb, "gru", bidirectional=True),
    "bilstm": lambda emb: reference.RecurrentModel(emb, "lstm", bidirectional=True),
}
COURSE_SEED = 7052020


def run(
    make_model: Callable[[nn.Embedding], nn.Module],
    data: tuple,
    glove: dict,
    *,
    seed: int,
    epochs: int,
    lr: float,
    clip: float,
) -> dict:
    """Train one model from ``seed``; its test metrics, validation accuracies and epoch times."""
    train, valid, test = data
    seed_all(seed)
    model = make_model(reference.load_embedding(train.vocab, glove))
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr)
    loader = DataLoader(
        train,
        batch_size=10,
        shuffle=True,
        collate_fn=reference.pad_collate_fn,
        generator=torch.Generator().manual_seed(seed),
    )
    valid_loader, test_loader = (
        DataLoader(d, batch_size=32, collate_fn=reference.pad_collate_fn) for d in (valid, test)
    )
    seconds, valid_accuracy = [], []
    for _ in tqdm(range(epochs), desc="epochs", leave=False):
        start = time.perf_counter()
        reference.train_epoch(model, loader, optimizer, clip)
        seconds.append(time.perf_counter() - start)
        valid_accuracy.append(reference.evaluate(model, valid_loader)["accuracy"])
    return {
        "test": reference.evaluate(model, test_loader),
        "valid_accuracy": valid_accuracy,
        "seconds": seconds,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--models", nargs="+", choices=list(MODELS), default=["baseline", "rnn", "gru", "lstm"]
    )
    parser.add_argument(
        "--seeds", type=int, default=5, help="runs per model, seeds 7052020, +1, ..."
    )
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument(
        "--lr",
        type=float,
        default=1e-3,
        help="Adam's step: 1e-3 beats the course's 1e-4 (tuned for 300-d vectors) on "
        "validation with 50-d ones in 5 epochs",
    )
    parser.add_argument("--clip", type=float, default=0.25)
    parser.add_argument(
        "--glove", default=None, help="a GloVe text file (default: the 50-d SST one)"
    )
    parser.add_argument(
        "--threads", type=int, default=1, help="torch CPU threads (1: fair on a shared machine)"
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    data, glove = reference.datasets(), sst.load_glove(args.glove)
    dim = len(next(iter(glove.values())))
    print(
        f"SST {len(data[0])}/{len(data[1])}/{len(data[2])} sentences, GloVe {dim}-d, "
        f"{args.epochs} epochs, Adam lr {args.lr:g}, clip {args.clip:g}, {args.threads} thread(s)"
    )
    results = {}
    for name in tqdm(args.models, desc="models"):
        results[name] = [
            run(
                MODELS[name],
                data,
                glove,
                seed=COURSE_SEED + i,
                epochs=args.epochs,
                lr=args.lr,
                clip=args.clip,
            )
            for i in tqdm(range(args.seeds), desc=name, leave=False)
        ]
    print(table(results))


def table(results: dict[str, list[dict]]) -> str:
    """One row per model: test accuracy and F1 mean ± std over seeds, validation, s/epoch."""
    seconds = {
        name: float(np.mean([s for r in runs for s in r["seconds"]]))
        for name, runs in results.items()
    }
    reference = seconds.get("baseline")
    lines = [
        f"{'model':<10} {'runs':>4} {'test accuracy %':>16} {'test F1 %':>14} "
        f"{'best valid %':>13} {'s/epoch':>8} {'x baseline':>10}"
    ]
    for name, runs in results.items():
        accuracy = 100 * np.array([r["test"]["accuracy"] for r in runs])
        f1 = 100 * np.array([r["test"]["f1"] for r in runs])
        valid = 100 * np.mean([max(r["valid_accuracy"]) for r in runs])
        ratio = f"{seconds[name] / reference:10.1f}" if reference else f"{'-':>10}"
        lines.append(
            f"{name:<10} {len(runs):>4} {accuracy.mean():9.2f} ± {accuracy.std():4.2f} "
            f"{f1.mean():7.2f} ± {f1.std():4.2f} {valid:13.2f} {seconds[name]:8.1f} {ratio}"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
