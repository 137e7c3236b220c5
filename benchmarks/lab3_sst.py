"""Lab 3 benchmark: SST sentiment with the baseline and the recurrent models, over seeds.

    DLCOURSE_DATA=../shared/data nice python benchmarks/lab3_sst.py            # the results table
    DLCOURSE_DATA=../shared/data nice python benchmarks/lab3_sst.py --spread   # <UNK>: before/after
    DLCOURSE_DATA=../shared/data nice python benchmarks/lab3_sst.py --study    # the course's study
    python benchmarks/lab3_sst.py --glove path/to/300d.txt --json results.json

The course's set-up: vocabulary built on train, GloVe vectors (the 50-d ones of $DLCOURSE_DATA/sst
unless --glove names another file, e.g. 300-d), Adam (step 1e-3: with 50-d vectors it beats the
course's 1e-4 on validation), batches of 10 (32 to evaluate), gradient clipping 0.25, two-layer
recurrent models of 150 units, one logit per sentence. Every run is **tested at the epoch of its
best validation accuracy** (not after the last one), and every metric (accuracy, F1 of class 1,
loss, confusion matrix) is reported as mean ± std over the seeds (the matrix: summed).

- default: the baseline (all of train, 10 epochs) and RNN, GRU, LSTM (``--epochs``, default 3, on
  ``--subset`` train sentences, default all), five seeds each (``--models`` picks some).
- ``--spread``: the baseline's seed spread with the course's random ``<UNK>`` vector against the
  zeros of ``load_embedding`` (frozen GloVe, Adam 1e-3, 10 epochs; trained GloVe, Adam 1e-4, 6).
- ``--study``: the course's study, one seed a run, recurrent runs on ``--subset``/``--epochs``:
  each cell x hidden size / layers / dropout (3 values each) / bidirectional (2); the best of those
  over five seeds; random vectors, trained, for the baseline and that cell; five more knobs
  (min_freq, learning rate, optimizer, clipping, freezing) on the baseline (all of train, 5 epochs)
  and on that cell.

The Lab 3 notebook's figures come from ``--spread``, ``--models rnn gru lstm --subset 3000
--valid-subset 900 --epochs 2`` and ``--study --subset 600 --valid-subset 600 --epochs 2``: 10 to
40 minutes each on the course's shared 2-core CPU, as the other jobs allowed. Instructor-side:
it trains the instructors' references (``autograder.reference.lab3``), which the student handout
does not contain.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import time
from collections.abc import Iterator

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Subset
from tqdm.auto import tqdm

from autograder.reference import lab3 as reference
from dlcourse.check import seed_all
from dlcourse.data import sst

COURSE_SEED = 7052020
MODELS = ("baseline", "rnn", "gru", "lstm")
OPTIMIZERS = {"adam": torch.optim.Adam, "sgd": torch.optim.SGD, "rmsprop": torch.optim.RMSprop}


@dataclasses.dataclass(frozen=True)
class Setup:
    """One training run's settings; ``model`` is ``"baseline"`` or a cell of
    ``dlcourse.sentiment.CELLS``, ``rnn`` the RecurrentModel's keyword arguments."""

    model: str = "gru"
    rnn: tuple[tuple[str, object], ...] = ()
    pretrained: bool = True
    freeze: bool = True
    unk_random: bool = False
    lr: float = 1e-3
    optimizer: str = "adam"
    clip: float = 0.25
    min_freq: int = 0
    epochs: int = 3
    subset: int | None = None  # train sentences used (a fixed random subset), None: all
    valid_subset: int | None = None  # validation sentences used, likewise

    def but(self, **changes: object) -> Setup:
        """A copy with ``changes``; ``rnn`` given as a dict merges into the current one."""
        if isinstance(changes.get("rnn"), dict):
            changes["rnn"] = tuple(sorted({**dict(self.rnn), **changes["rnn"]}.items()))
        return dataclasses.replace(self, **changes)


@functools.cache
def data(min_freq: int) -> tuple:
    """(train, valid, test) with the vocabulary of ``min_freq`` built on train."""
    return reference.datasets(min_freq=min_freq)


@functools.cache
def glove(path: str | None) -> dict:
    """The GloVe vectors of ``path`` (default: the 50-d SST ones), read once."""
    return sst.load_glove(path)


def embedding(setup: Setup, vocab: reference.Vocab, vectors: dict | None) -> nn.Embedding:
    """``load_embedding``'s matrix, ``<UNK>`` made random when ``unk_random`` (the course's
    rule, for ``--spread``), trainable unless ``freeze``."""
    dim = len(next(iter(vectors.values()))) if vectors else 300
    weight = reference.load_embedding(vocab, vectors if setup.pretrained else None, dim=dim).weight
    if setup.unk_random:
        weight[vocab.stoi[sst.UNK]] = torch.randn(weight.shape[1])
    return nn.Embedding.from_pretrained(weight, padding_idx=0, freeze=setup.freeze)


def make_model(setup: Setup, emb: nn.Embedding) -> nn.Module:
    """The reference model ``setup`` names, on ``emb``."""
    if setup.model == "baseline":
        return reference.BaselineModel(emb)
    return reference.RecurrentModel(emb, setup.model, **dict(setup.rnn))


def run(setup: Setup, seed: int, vectors: dict | None) -> dict:
    """Train from ``seed``; the validation accuracy of every epoch and the test metrics at the
    epoch of the best one."""
    train, valid, test = data(setup.min_freq)
    train, valid = _subset(train, setup.subset), _subset(valid, setup.valid_subset)
    seed_all(seed)
    model = make_model(setup, embedding(setup, test.vocab, vectors))
    parameters = [p for p in model.parameters() if p.requires_grad]
    optimizer = OPTIMIZERS[setup.optimizer](parameters, lr=setup.lr)
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
    seconds, valid_accuracy, best = [], [], None
    for _ in range(setup.epochs):
        start = time.perf_counter()
        reference.train_epoch(model, loader, optimizer, setup.clip)
        seconds.append(time.perf_counter() - start)
        valid_accuracy.append(reference.evaluate(model, valid_loader)["accuracy"])
        if valid_accuracy[-1] == max(valid_accuracy):  # test only where validation is best
            best = reference.evaluate(model, test_loader)
    return {"test": best, "valid_accuracy": valid_accuracy, "seconds": seconds}


def _subset(dataset: reference.NLPDataset, size: int | None) -> torch.utils.data.Dataset:
    """A fixed random ``size`` of the dataset's sentences (the same for every seed), or all."""
    if size is None:
        return dataset
    order = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(0))
    return Subset(dataset, order[:size].tolist())


def runs(setup: Setup, seeds: int, vectors: dict | None) -> list[dict]:
    """``run`` from seeds 7052020, +1, ..."""
    return [run(setup, COURSE_SEED + i, vectors) for i in range(seeds)]


# ----------------------------------------------------------------------------- reports


def summary(results: list[dict]) -> dict:
    """Mean and std over the runs of every test metric (%, loss as is), the best validation
    accuracy, the summed confusion matrix and the seconds per epoch."""
    out: dict = {"runs": len(results)}
    for key, scale in (("accuracy", 100), ("f1", 100), ("loss", 1)):
        values = scale * np.array([r["test"][key] for r in results])
        out[key] = (float(values.mean()), float(values.std()), values.round(2).tolist())
    valid = 100 * np.array([max(r["valid_accuracy"]) for r in results])
    out["valid"] = (float(valid.mean()), float(valid.std()), valid.round(2).tolist())
    out["best_epoch"] = [int(np.argmax(r["valid_accuracy"])) + 1 for r in results]
    out["confusion_matrix"] = sum(r["test"]["confusion_matrix"] for r in results).tolist()
    out["seconds"] = float(np.mean([s for r in results for s in r["seconds"]]))
    return out


def table(rows: dict[str, dict]) -> str:
    """One line per row: test accuracy, F1, loss (mean ± std), best validation, range."""
    lines = [
        f"{'':<34} {'n':>2} {'test acc %':>13} {'test F1 %':>13} {'test loss':>13} "
        f"{'valid %':>7} {'acc range':>11} {'s/ep':>5}"
    ]
    for name, s in rows.items():
        (a, sa, values), (f, sf, _), (lo, sl, _) = s["accuracy"], s["f1"], s["loss"]
        spread = f"{min(values):.1f}-{max(values):.1f}"
        lines.append(
            f"{name:<34} {s['runs']:>2} {a:6.2f} ± {sa:4.2f} {f:6.2f} ± {sf:4.2f} "
            f"{lo:6.3f} ± {sl:4.3f} {s['valid'][0]:7.2f} {spread:>11} {s['seconds']:5.1f}"
        )
    return "\n".join(lines)


def matrices(rows: dict[str, dict]) -> str:
    """The summed test confusion matrices (rows: true positive/negative; columns: predicted)."""
    return "\n".join(f"{name:<34} {s['confusion_matrix']}" for name, s in rows.items())


# ----------------------------------------------------------------------------- experiments


def results_table(
    seeds: int, small: Setup, models: tuple[str, ...] = MODELS
) -> Iterator[tuple[str, Setup, int]]:
    """The notebook's results: ``models``, five seeds; the baseline on all of train for 10
    epochs (as ``--spread``'s "<UNK> zeros" frozen row), the recurrent ones as ``small`` says."""
    for model in models:
        yield (
            model,
            Setup("baseline", epochs=10) if model == "baseline" else small.but(model=model),
            seeds,
        )


def spread(seeds: int) -> Iterator[tuple[str, Setup, int]]:
    """The baseline with the course's random <UNK> and with zeros, frozen and trained GloVe."""
    frozen = Setup("baseline", epochs=10)
    trained = Setup("baseline", freeze=False, lr=1e-4, epochs=6)
    for name, setup in (
        ("frozen, Adam 1e-3, 10 ep", frozen),
        ("trained, Adam 1e-4, 6 ep", trained),
    ):
        yield f"{name}, <UNK> random", setup.but(unk_random=True), seeds
        yield f"{name}, <UNK> zeros", setup, seeds


GRID = {
    "hidden_size": (150, 50, 300),
    "num_layers": (2, 1, 3),
    "dropout": (0.0, 0.25, 0.5),
    "bidirectional": (False, True),
}
"""The course's recurrent hyper-parameters and their values, the default first."""
KNOBS = {
    "min_freq": (1, 2, 5),
    "lr": (1e-4, 1e-3, 1e-2),
    "optimizer": ("adam", "sgd", "rmsprop"),
    "clip": (0.05, 0.25, float("inf")),
    "freeze": (True, False),
}
"""Five of the course's other knobs (min_freq 1 keeps every word, as 0)."""


def knob_setups(base: Setup) -> Iterator[tuple[str, Setup]]:
    """``base`` with each knob of ``KNOBS`` at each of its values (the default skipped)."""
    for knob, values in KNOBS.items():
        for value in values:
            setup = base.but(**{knob: value})
            if knob == "optimizer" and value == "sgd":  # plain SGD needs a far larger step
                setup = setup.but(lr=0.1)
            if setup != base.but(min_freq=1 if knob == "min_freq" else base.min_freq):
                yield f"{knob}={value:g}" if isinstance(value, float) else f"{knob}={value}", setup


def study(seeds: int, vectors: dict, small: Setup) -> dict[str, dict]:
    """Runs the shrunk study (see the module's docstring), printing each part's table."""
    found: dict[str, dict] = {}

    def part(title: str, setups: list[tuple[str, Setup, int]]) -> dict[str, dict]:
        rows = {name: summary(runs(s, n, vectors)) for name, s, n in tqdm(setups, desc=title)}
        print(f"\n## {title}\n{table(rows)}", flush=True)
        found.update({f"{title}: {name}": row for name, row in rows.items()})
        return rows

    size = f"{small.subset or 'all'} train sentences, {small.epochs} epochs"
    grid = []
    for cell in ("rnn", "gru", "lstm"):
        grid.append((f"{cell} (150, 2 layers, 0, uni)", small.but(model=cell), 1))
        for key, values in GRID.items():
            for value in values[1:]:
                grid.append((f"{cell} {key}={value}", small.but(model=cell, rnn={key: value}), 1))
    rows = part(f"cell x hyper-parameter ({size}, 1 seed)", grid)
    best_name = max(rows, key=lambda name: rows[name]["valid"][0])
    best = dict(grid_item[:2] for grid_item in grid)[best_name]
    part(f"best by validation, {seeds} seeds", [(best_name, best, seeds)])
    part(
        "random vectors, trained (freeze=False)",
        [
            (
                "baseline, random trained",
                Setup("baseline", epochs=5, pretrained=False, freeze=False),
                1,
            ),
            (
                f"{best.model}, random trained",
                small.but(model=best.model, pretrained=False, freeze=False),
                1,
            ),
        ],
    )
    baseline = Setup("baseline", epochs=5)
    part(
        "baseline knobs (all of train, 5 epochs)",
        [("baseline", baseline, 1)] + [(name, s, 1) for name, s in knob_setups(baseline)],
    )
    cell = small.but(model=best.model)
    part(
        f"{best.model} knobs ({size})",
        [(best.model, cell, 1)] + [(name, s, 1) for name, s in knob_setups(cell)],
    )
    return found


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--spread", action="store_true", help="the <UNK> vector's seed spread")
    mode.add_argument("--study", action="store_true", help="the course's hyper-parameter study")
    parser.add_argument("--models", nargs="+", choices=MODELS, default=MODELS)
    parser.add_argument("--seeds", type=int, default=5, help="seeds 7052020, +1, ...")
    parser.add_argument("--glove", default=None, help="a GloVe text file (default: 50-d SST)")
    parser.add_argument(
        "--subset", type=int, default=None, help="recurrent runs: train sentences (default all)"
    )
    parser.add_argument(
        "--valid-subset", type=int, default=None, help="recurrent runs: valid sentences"
    )
    parser.add_argument("--epochs", type=int, default=3, help="recurrent runs: epochs")
    parser.add_argument("--json", default=None, help="also write every row's figures here")
    parser.add_argument(
        "--threads", type=int, default=1, help="torch CPU threads (1: fair on a shared machine)"
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    vectors = glove(args.glove)
    print(f"GloVe {len(next(iter(vectors.values())))}-d, {args.threads} thread(s)", flush=True)
    small = Setup(subset=args.subset, valid_subset=args.valid_subset, epochs=args.epochs)
    if args.study:
        rows = study(args.seeds, vectors, small)
    else:
        setups = (
            spread(args.seeds)
            if args.spread
            else results_table(args.seeds, small, tuple(args.models))
        )
        rows = {}
        for name, setup, n in tqdm(list(setups)):
            rows[name] = summary(runs(setup, n, vectors))
            tqdm.write(
                f"{table({name: rows[name]}).splitlines()[-1]} {matrices({name: rows[name]})}"
            )
        print(table(rows))
    print("\ntest confusion matrices summed over the seeds (rows: true positive/negative)")
    print(matrices(rows))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
