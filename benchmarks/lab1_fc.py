"""Lab 1 benchmark on real MNIST: the reference train_mb against nn.Linear + DataLoader, and the
best fully connected model's test accuracy.

1. One epoch of [784, 100, 10] (ReLU, SGD lr 0.1, batches of 100): the instructors' reference
   ``train_mb`` (``autograder.reference.lab1``: a hand-made PTDeep, index-shuffled batches) against
   the same network written with ``nn.Linear`` and trained from a ``DataLoader``. Both are timed in
   the same run, alternately, ``--repeats`` times; the table gives the medians and their ratio.
2. The best FC model of the lab (default [784, 512, 256, 10], Adam with an exponentially decaying
   learning rate, early stopping on the 5k validation images), trained with ``train_mb``; its test
   accuracy (target: at least 98%).

    DLCOURSE_DATA=../shared/data python benchmarks/lab1_fc.py [--epochs 20] [--repeats 3]

Needs real MNIST (``$DLCOURSE_DATA/MNIST/raw``); the bundled subset is refused.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from tqdm.auto import tqdm

from autograder.reference import lab1 as reference
from dlcourse import config
from dlcourse.data.mnist import MNIST, load_mnist
from dlcourse.data.onehot import class_to_onehot


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(run: Callable[[], object], device: torch.device) -> float:
    """Seconds one call of ``run`` takes, device work included."""
    _sync(device)
    start = time.perf_counter()
    run()
    _sync(device)
    return time.perf_counter() - start


def linear_epoch(
    X: torch.Tensor, Y: torch.Tensor, device: torch.device, seed: int
) -> Callable[[], None]:
    """One epoch of nn.Linear [784, 100, 10] from a shuffling DataLoader, SGD lr 0.1."""
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(784, 100), nn.ReLU(), nn.Linear(100, 10)).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    loader = DataLoader(TensorDataset(X, Y), batch_size=100, shuffle=True)
    loss_fn = nn.CrossEntropyLoss()

    def run() -> None:
        for xb, yb in loader:
            loss = loss_fn(model(xb), yb)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            loss.item()  # as train_mb records every batch's loss

    return run


def ptdeep_epoch(
    X: torch.Tensor, Yoh: torch.Tensor, device: torch.device, seed: int
) -> Callable[[], None]:
    """One epoch of the reference PTDeep [784, 100, 10] with the reference train_mb."""
    torch.manual_seed(seed)
    model = reference.PTDeep([784, 100, 10]).to(device)
    return lambda: reference.train_mb(model, X, Yoh, 1, 0.1, batch_size=100)


def epoch_speed(
    X: torch.Tensor, Y: torch.Tensor, Yoh: torch.Tensor, device: torch.device, repeats: int
) -> dict[str, float]:
    """Median seconds per epoch of both implementations, timed alternately."""
    for warm_up in (ptdeep_epoch, linear_epoch):  # first calls load code (torch.optim's imports)
        warm_up(X[:1000], (Yoh if warm_up is ptdeep_epoch else Y)[:1000], device, 0)()
    times: dict[str, list[float]] = {"train_mb (PTDeep)": [], "nn.Linear + DataLoader": []}
    for seed in tqdm(range(repeats), desc="epoch timing"):
        times["train_mb (PTDeep)"].append(timed(ptdeep_epoch(X, Yoh, device, seed), device))
        times["nn.Linear + DataLoader"].append(timed(linear_epoch(X, Y, device, seed), device))
    return {name: statistics.median(values) for name, values in times.items()}


def best_model(
    data: MNIST, device: torch.device, sizes: list[int], epochs: int
) -> tuple[float, dict, float]:
    """(test accuracy, history, seconds) of PTDeep(sizes): Adam, decay, early stopping."""
    torch.manual_seed(100)
    model = reference.PTDeep(sizes).to(device)
    X = torch.tensor(data.train.flat(), device=device)
    Yoh = torch.tensor(class_to_onehot(data.train.y, 10), dtype=torch.float32, device=device)
    X_val = torch.tensor(data.valid.flat(), device=device)
    start = time.perf_counter()
    history = reference.train_mb(
        model,
        X,
        Yoh,
        epochs,
        1e-3,
        param_lambda=1e-6,
        batch_size=100,
        optimizer=torch.optim.Adam,
        lr_gamma=0.85,
        X_val=X_val,
        Y_val=data.valid.y,
        progress=True,
    )
    seconds = time.perf_counter() - start
    accuracy = float(np.mean(reference.predict(model, data.test.flat()) == data.test.y))
    return accuracy, history, seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=20, help="epochs of the best model")
    parser.add_argument("--repeats", type=int, default=3, help="timed epochs of each loop")
    parser.add_argument("--config", default="784,512,256,10", help="layer sizes of the best model")
    args = parser.parse_args(argv)
    device = config.device()
    data = load_mnist()
    if data.source == "bundled":
        print(
            "benchmarks/lab1_fc.py needs real MNIST: set DLCOURSE_DATA to a folder with MNIST/raw",
            file=sys.stderr,
        )
        return 2
    X = torch.tensor(data.train.flat(), device=device)  # (55000, 784)
    Y = torch.tensor(data.train.y, device=device)
    Yoh = torch.tensor(class_to_onehot(data.train.y, 10), dtype=torch.float32, device=device)
    print(
        f"MNIST from {data.source}: {len(X)} training images; device {device}, "
        f"{torch.get_num_threads()} CPU threads, torch {torch.__version__}"
    )

    speed = epoch_speed(X, Y, Yoh, device, args.repeats)
    sizes = [int(n) for n in args.config.split(",")]
    accuracy, history, seconds = best_model(data, device, sizes, args.epochs)

    baseline = speed["nn.Linear + DataLoader"]
    print(f"\n{'one epoch of [784, 100, 10], SGD, batch 100':46s} {'seconds':>8s} {'ratio':>7s}")
    for name, value in speed.items():
        print(f"  {name:44s} {value:8.2f} {value / baseline:7.2f}")
    print(
        f"\nbest FC model {sizes} (Adam 1e-3, lr_gamma 0.85, early stopping), {args.epochs} epochs "
        f"in {seconds:.0f} s"
    )
    best = max(history["val_accuracy"])
    print(f"  best validation accuracy {best:.4f} at epoch {history['best_epoch']}")
    verdict = "met" if accuracy >= 0.98 else "NOT met"
    print(f"  test accuracy            {accuracy:.4f}  (target >= 0.98: {verdict})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
