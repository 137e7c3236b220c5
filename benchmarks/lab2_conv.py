"""Lab 2 benchmark: the numpy layers against PyTorch on the CPU, and both MNIST networks.

1. The numpy convolution forward + backward (input and parameter gradients; the instructors'
   ``NumpyConvolution``: the given layer's im2col forward and the bonus's numpy backward) against
   ``torch.nn.functional.conv2d`` with autograd, on MNIST's second layer: x (50, 16, 14, 14),
   32 filters 5 x 5, SAME padding. ``MaxPooling`` 2 x 2 against ``max_pool2d`` on (50, 32, 14, 14).
   Both in float32 and in float64, timed alternately in one run; the ratio is numpy / torch
   (target: at most 2).
2. The lab's MNIST network in numpy (float64, the instructors' reference layers of
   ``autograder.reference.lab2``, numpy backward throughout) and in PyTorch (float32, the
   reference model and training loop), trained on real MNIST with the course's schedule
   (``train.py``: 8 epochs, batch 50, learning rate 0.1 from epoch 1, 0.01 from epoch 3, 0.001
   from epoch 5 and 1e-4 from epoch 7, L2 1e-3): seconds per epoch and test accuracy (target:
   at least 99%).
3. ``--parts cifar``: the lab's CIFAR-10 network (reference model and loop, float32, on the
   GPU when there is one), 10 epochs, batch 50, learning rate 0.05 * 0.9^(epoch - 1), L2 1e-3,
   on real CIFAR-10 under $DLCOURSE_DATA/cifar-10-batches-py: the course's target is about 70%
   validation accuracy. Refused on the synthetic stand-in (its accuracy says nothing).

Both libraries run on the same number of CPU threads (``--threads``, default 1: on a shared
machine, busy-waiting BLAS threads make multi-threaded timings mostly noise).

Run from the repository root, with real MNIST under $DLCOURSE_DATA:

    nice python benchmarks/lab2_conv.py                      # everything (numpy training is long)
    nice python benchmarks/lab2_conv.py --numpy-epochs 2     # numpy: epochs 1..2 of the schedule
    nice python benchmarks/lab2_conv.py --parts layers       # part 1 only (or: numpy, torch)
    python benchmarks/lab2_conv.py --parts cifar             # part 3 (needs real CIFAR-10)
"""

from __future__ import annotations

import argparse
import os
import platform
import time
import warnings
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from threadpoolctl import threadpool_limits
from tqdm.auto import tqdm

from autograder.reference import lab2 as ref
from autograder.reference.lab2 import (
    FC,
    L2Regularizer,
    NumpyConvolution,
    RegularizedLoss,
    ReLU,
    SoftmaxCrossEntropyWithLogits,
)
from dlcourse import convnets
from dlcourse.data.cifar import SyntheticDataWarning, load_cifar10
from dlcourse.data.mnist import BundledDataWarning, load_mnist
from dlcourse.data.onehot import class_to_onehot
from dlcourse.layers import MaxPooling
from dlcourse.net import evaluate, train

COURSE_LR = {1: 1e-1, 3: 1e-2, 5: 1e-3, 7: 1e-4}  # the course's train.py, by epoch
LR_POLICY = {epoch: {"lr": lr} for epoch, lr in COURSE_LR.items()}  # dlcourse.net.train's form
WEIGHT_DECAY, BATCH_SIZE = 1e-3, 50
CIFAR_EPOCHS, CIFAR_TARGET = 10, 0.70


def time_pair(
    numpy_step: Callable[[], object], torch_step: Callable[[], object], repeats: int, what: str
) -> tuple[float, float]:
    """Median seconds of each step, run alternately (``repeats`` times each, after a warm-up),
    so that both see the same load on a shared machine."""
    numpy_step(), torch_step()
    times: tuple[list[float], list[float]] = ([], [])
    for _ in tqdm(range(repeats), desc=what, leave=False):
        for step, bucket in ((numpy_step, times[0]), (torch_step, times[1])):
            start = time.perf_counter()
            step()
            bucket.append(time.perf_counter() - start)
    return float(np.median(times[0])), float(np.median(times[1]))


def conv_steps(dtype: type) -> tuple[Callable[[], object], Callable[[], object]]:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((50, 16, 14, 14)).astype(dtype)
    grad_out = rng.standard_normal((50, 32, 14, 14)).astype(dtype)
    conv = NumpyConvolution(x, 32, 5, "conv2")
    conv.weights, conv.bias = conv.weights.astype(dtype), rng.standard_normal(32).astype(dtype)
    xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, conv.weights, conv.bias))
    gt = torch.tensor(grad_out)

    def numpy_step() -> object:
        conv.forward(x)
        return conv.backward_inputs(grad_out), conv.backward_params(grad_out)

    def torch_step() -> object:
        return torch.autograd.grad(F.conv2d(xt, wt, bt, padding=2), (xt, wt, bt), gt)

    return numpy_step, torch_step


def pool_steps(dtype: type) -> tuple[Callable[[], object], Callable[[], object]]:
    rng = np.random.default_rng(1)
    x = rng.standard_normal((50, 32, 14, 14)).astype(dtype)
    grad_out = rng.standard_normal((50, 32, 7, 7)).astype(dtype)
    pool = MaxPooling(x, "pool2", pool_size=2, stride=2)
    xt, gt = torch.tensor(x, requires_grad=True), torch.tensor(grad_out)

    def numpy_step() -> object:
        pool.forward(x)
        return pool.backward_inputs(grad_out)

    def torch_step() -> object:
        return torch.autograd.grad(F.max_pool2d(xt, 2, 2), (xt,), gt)

    return numpy_step, torch_step


def layer_rows(repeats: int) -> list[tuple[str, ...]]:
    rows = []
    for name, steps in (
        ("Convolution 50x16x14x14, 32 5x5", conv_steps),
        ("MaxPooling 2x2, 50x32x14x14", pool_steps),
    ):
        for dtype in (np.float32, np.float64):
            mine, ref = time_pair(*steps(dtype), repeats, f"{name} {dtype.__name__}")
            rows.append(
                (
                    f"{name} fwd+bwd",
                    dtype.__name__,
                    f"{mine * 1e3:.1f} ms",
                    f"{ref * 1e3:.1f} ms",
                    f"{mine / ref:.2f}",
                )
            )
    return rows


def mnist_arrays() -> dict[str, np.ndarray]:
    with warnings.catch_warnings():
        warnings.simplefilter("error", BundledDataWarning)  # a benchmark needs the real data
        mnist = load_mnist(download=False)
    train_x, valid_x, test_x = convnets.subtract_mean(
        *(convnets.to_float_images(s.x, np.float64) for s in (mnist.train, mnist.valid, mnist.test))
    )
    return dict(
        train_x=train_x,
        valid_x=valid_x,
        test_x=test_x,
        train_y=mnist.train.y,
        valid_y=mnist.valid.y,
        test_y=mnist.test.y,
    )


def numpy_network(data: dict[str, np.ndarray], epochs: int) -> tuple[list[float], float]:
    np.random.seed(100)
    net = convnets.numpy_mnist_net(
        data["train_x"][:BATCH_SIZE], FC=FC, ReLU=ReLU, Convolution=NumpyConvolution
    )
    loss = RegularizedLoss(
        SoftmaxCrossEntropyWithLogits(),
        [
            L2Regularizer(layer.weights, WEIGHT_DECAY, f"l2_{layer.name}")
            for layer in net
            if layer.has_params
        ],
    )
    config = dict(max_epochs=epochs, batch_size=BATCH_SIZE, lr_policy=LR_POLICY)
    history = train(
        data["train_x"],
        class_to_onehot(data["train_y"], 10),
        data["valid_x"],
        class_to_onehot(data["valid_y"], 10),
        net,
        loss,
        config,
    )
    _, accuracy = evaluate(
        "numpy test", data["test_x"], class_to_onehot(data["test_y"], 10), net, loss, config
    )
    return history["seconds"], accuracy


def torch_network(data: dict[str, np.ndarray], epochs: int) -> tuple[list[float], float]:
    torch.manual_seed(100)
    model = ref.MnistConvNet()
    as32 = {k: v.astype(np.float32) if v.dtype == np.float64 else v for k, v in data.items()}
    x, y = torch.as_tensor(as32["train_x"]), torch.as_tensor(as32["train_y"])
    generator, seconds = torch.Generator().manual_seed(100), []
    for epoch in range(1, epochs + 1):
        order = torch.randperm(len(x), generator=generator)
        start = time.perf_counter()
        ref.train_epoch(
            model,
            x[order],
            y[order],
            lr=ref.learning_rate(epoch, COURSE_LR),
            weight_decay=WEIGHT_DECAY,
            batch_size=BATCH_SIZE,
        )
        seconds.append(time.perf_counter() - start)
    return seconds, ref.evaluate(model, as32["test_x"], as32["test_y"], 10)["accuracy"]


def cifar_network() -> tuple[float, float]:
    """(best validation accuracy, test accuracy) of the lab's CIFAR-10 network."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", SyntheticDataWarning)  # the target is about CIFAR-10
        cifar = load_cifar10(download=False)
    splits = (cifar.train, cifar.valid, cifar.test)
    x = convnets.standardize_channels(*(convnets.to_float_images(s.x) for s in splits))
    torch.manual_seed(100)
    model = ref.CifarConvNet(len(cifar.classes))
    history = ref.train(
        model,
        (x[0], cifar.train.y),
        (x[1], cifar.valid.y),
        epochs=CIFAR_EPOCHS,
        batch_size=BATCH_SIZE,
        lr_policy={e: 0.05 * 0.9 ** (e - 1) for e in range(1, CIFAR_EPOCHS + 1)},
        weight_decay=WEIGHT_DECAY,
    )
    test = ref.evaluate(model, x[2], cifar.test.y, len(cifar.classes))["accuracy"]
    return max(history["valid_accuracy"]), test


def table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = [" | ".join(str(c).ljust(w) for c, w in zip(row, widths)) for row in [header, *rows]]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=30, help="timed runs of each layer step")
    parser.add_argument(
        "--epochs", type=int, default=8, help="epochs of the lab's schedule, PyTorch"
    )
    parser.add_argument("--numpy-epochs", type=int, default=8, help="epochs of the schedule, numpy")
    parser.add_argument(
        "--threads", type=int, default=1, help="CPU threads of numpy's BLAS and torch"
    )
    parser.add_argument(
        "--parts",
        nargs="+",
        choices=("layers", "numpy", "torch", "cifar"),
        default=["layers", "numpy", "torch"],
        help="what to run (default: all)",
    )
    args = parser.parse_args()
    if args.parts == ["cifar"]:
        try:
            valid, test = cifar_network()
        except SyntheticDataWarning as exc:
            raise SystemExit(f"no CIFAR-10 to benchmark on: {exc}") from None
        print(
            f"CIFAR-10: best validation accuracy {valid:.2%} (the course's target: about "
            f"{CIFAR_TARGET:.0%}), test accuracy {test:.2%}"
        )
        return
    os.environ["DLCOURSE_DEVICE"] = "cpu"  # numpy runs on the CPU: so does torch, for the ratios
    torch.set_num_threads(args.threads)
    with threadpool_limits(args.threads):
        run(args)


def run(args: argparse.Namespace) -> None:
    print(
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, {args.threads} "
        f"thread(s) each; torch {torch.__version__}, numpy {np.__version__}"
    )
    if "layers" in args.parts:
        print(
            table(
                ("layer (forward + backward)", "dtype", "numpy", "torch CPU", "numpy / torch"),
                layer_rows(args.repeats),
            )
        )
    networks = [
        (name, run_network, epochs)
        for part, name, run_network, epochs in (
            ("numpy", "numpy (float64)", numpy_network, args.numpy_epochs),
            ("torch", "PyTorch CPU (float32)", torch_network, args.epochs),
        )
        if part in args.parts
    ]
    if not networks:
        return
    data, results = mnist_arrays(), []
    for name, run_network, epochs in networks:
        seconds, accuracy = run_network(data, epochs)
        results.append(
            (
                name,
                f"{np.median(seconds):.1f} s",
                f"{sum(seconds) / 60:.1f} min",
                f"{len(seconds)} of 8",
                f"{accuracy:.2%}",
            )
        )
    print(table(("MNIST network", "median epoch", "training", "epochs", "test accuracy"), results))


if __name__ == "__main__":
    main()
