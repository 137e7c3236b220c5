"""dlcourse.tasks.lab4: every check gives full points to a correct submission and takes exactly
the broken quantities' points from realistic wrong ones."""

import random
import re
from collections import defaultdict
from pathlib import Path

import nbformat
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import dlcourse.reference
from autograder.reference import lab4 as reference_lab4
from dlcourse.data.mnist import load_mnist
from dlcourse.reference import NoControl
from dlcourse.tasks import lab4
from dlcourse.tasks.lab4 import TASKS

from .task_harness import TaskChecks, failing

pytestmark = pytest.mark.lab4


# ----------------------------------------------------------------------------- a correct submission


class MNISTMetricDataset(torch.utils.data.Dataset):
    def __init__(self, root=None, split="train", remove_class=None):
        data = load_mnist(root)
        part = data.test if split == "test" else data.train
        self.split = split
        self.images = torch.from_numpy(part.x).float() / 255
        self.targets = torch.from_numpy(part.y)
        if remove_class is not None:
            keep = self.targets != remove_class
            self.images, self.targets = self.images[keep], self.targets[keep]
        self.target2indices = defaultdict(list)
        for i, t in enumerate(self.targets.tolist()):
            self.target2indices[t].append(i)

    def _sample_positive(self, index):
        target = self.targets[index].item()
        while (j := random.choice(self.target2indices[target])) == index:
            pass
        return j

    def _sample_negative(self, index):
        target = self.targets[index].item()
        other = random.choice([c for c in self.target2indices if c != target])
        return random.choice(self.target2indices[other])

    def __getitem__(self, index):
        anchor, target = self.images[index].unsqueeze(0), self.targets[index].item()
        if self.split != "train":
            return anchor, target
        positive = self.images[self._sample_positive(index)].unsqueeze(0)
        negative = self.images[self._sample_negative(index)].unsqueeze(0)
        return anchor, positive, negative, target

    def __len__(self):
        return len(self.images)


def distance(x, y, eps=1e-6):
    return torch.sqrt(((x - y + eps) ** 2).sum(dim=1))


def triplet_loss(anchor, positive, negative, margin=1.0):
    return torch.relu(distance(anchor, positive) - distance(anchor, negative) + margin).mean()


def contrastive_loss(x1, x2, same, margin=1.0):
    d = distance(x1, x2)
    return torch.where(same == 1, d**2, torch.relu(margin - d) ** 2).mean()


class Block(nn.Sequential):
    def __init__(self, n_in, n_out):
        super().__init__(nn.BatchNorm2d(n_in), nn.ReLU(), nn.Conv2d(n_in, n_out, 3))


class SimpleMetricEmbedding(nn.Module):
    def __init__(self, input_channels, emb_size=32):
        super().__init__()
        self.blocks = nn.ModuleList(
            [Block(input_channels, emb_size), Block(emb_size, emb_size), Block(emb_size, emb_size)]
        )

    def get_features(self, img):
        x = self.blocks[0](img)
        x = self.blocks[1](F.max_pool2d(x, 3, 2))
        x = self.blocks[2](F.max_pool2d(x, 3, 2))
        return x.mean(dim=(2, 3))


class IdentityModel(nn.Module):
    def get_features(self, img):
        return img.reshape(len(img), -1)


def batch_hard_triplet_loss(embeddings, labels, margin=1.0):
    d = torch.cdist(embeddings, embeddings)
    same = labels[:, None] == labels[None, :]
    pos = same & ~torch.eye(len(labels), dtype=torch.bool, device=labels.device)
    valid = pos.any(1) & (~same).any(1)
    p = torch.where(pos, d, -torch.inf).argmax(1)
    n = torch.where(~same, d, torch.inf).argmin(1)
    return triplet_loss(embeddings[valid], embeddings[p[valid]], embeddings[n[valid]], margin)


# task -> (check, cases as in a graded cell: visible and "hidden", correct submission)
CASES = {
    "mnist_metric_dataset": (
        lab4.check_mnist_metric_dataset,
        [dict(seed=1), dict(seed=1031, n_train=600, n_test=37, remove_class=7)],
        MNISTMetricDataset,
    ),
    "triplet_loss": (
        lab4.check_triplet_loss,
        [
            dict(seed=1, B=6, D=4),
            dict(seed=2, B=4, D=3, kind="zero_distances"),
            dict(seed=3, B=5, D=4, kind="inactive"),
            dict(seed=1031, B=17, D=9, margin=0.5),
            dict(seed=1032, B=1, D=2, margin=2.0, kind="zero_distances"),
        ],
        triplet_loss,
    ),
    "contrastive_loss": (
        lab4.check_contrastive_loss,
        [
            dict(seed=1, B=6, D=4),
            dict(seed=2, B=4, D=3, kind="zero_distances"),
            dict(seed=3, B=5, D=4, kind="inactive"),
            dict(seed=1031, B=13, D=7, margin=2.0),
        ],
        contrastive_loss,
    ),
    "simple_metric_embedding": (
        lab4.check_simple_metric_embedding,
        [
            dict(seed=1, B=3, emb_size=8),
            dict(seed=2, B=1, emb_size=8),
            dict(seed=1031, B=2, input_channels=3, emb_size=5, H=32, W=25),
        ],
        SimpleMetricEmbedding,
    ),
    "identity_model": (
        lab4.check_identity_model,
        [dict(seed=1, B=3), dict(seed=1031, B=1, C=3, H=5, W=7)],
        IdentityModel,
    ),
    "batch_hard_triplet_loss": (
        lab4.check_batch_hard_triplet_loss,
        [dict(seed=1, B=8, D=4, C=3), dict(seed=1031, B=13, D=5, C=4, margin=0.5, singleton=True)],
        batch_hard_triplet_loss,
    ),
}


# ----------------------------------------------------------------------------- wrong submissions


class PositiveMayBeAnchor(MNISTMetricDataset):
    def _sample_positive(self, index):
        return random.choice(self.target2indices[self.targets[index].item()])


class FirstPositive(MNISTMetricDataset):
    def _sample_positive(self, index):
        return next(j for j in self.target2indices[self.targets[index].item()] if j != index)


class NegativeFromAnyClass(MNISTMetricDataset):
    def _sample_negative(self, index):
        return random.randrange(len(self.images))


class KeepsRemovedClass(MNISTMetricDataset):
    def __init__(self, root=None, split="train", remove_class=None):
        super().__init__(root, split, None)


class Unscaled(MNISTMetricDataset):
    def __init__(self, root=None, split="train", remove_class=None):
        super().__init__(root, split, remove_class)
        self.images = self.images * 255


class NoChannel(MNISTMetricDataset):
    def __getitem__(self, index):
        return tuple(
            x.squeeze(0) if isinstance(x, torch.Tensor) else x for x in super().__getitem__(index)
        )


def squared_distances(anchor, positive, negative, margin=1.0):
    return torch.relu(
        distance(anchor, positive) ** 2 - distance(anchor, negative) ** 2 + margin
    ).mean()


def no_margin(anchor, positive, negative, margin=1.0):
    return torch.relu(distance(anchor, positive) - distance(anchor, negative)).mean()


def no_eps(anchor, positive, negative, margin=1.0):
    d_ap, d_an = torch.norm(anchor - positive, dim=1), torch.norm(anchor - negative, dim=1)
    return torch.relu(d_ap - d_an + margin).mean()


def sqrt_without_eps(anchor, positive, negative, margin=1.0):
    d_ap = ((anchor - positive) ** 2).sum(dim=1).sqrt()
    d_an = ((anchor - negative) ** 2).sum(dim=1).sqrt()
    return torch.relu(d_ap - d_an + margin).mean()


def summed(anchor, positive, negative, margin=1.0):
    return torch.relu(distance(anchor, positive) - distance(anchor, negative) + margin).sum()


def mean_over_active(anchor, positive, negative, margin=1.0):
    losses = torch.relu(distance(anchor, positive) - distance(anchor, negative) + margin)
    return losses.sum() / (losses > 0).sum()


def no_hinge(anchor, positive, negative, margin=1.0):
    return (distance(anchor, positive) - distance(anchor, negative) + margin).mean()


def library_triplet(anchor, positive, negative, margin=1.0):
    return F.triplet_margin_loss(anchor, positive, negative, margin=margin)


def halved_contrastive(x1, x2, same, margin=1.0):
    return contrastive_loss(x1, x2, same, margin) / 2


def swapped_labels(x1, x2, same, margin=1.0):
    return contrastive_loss(x1, x2, 1 - same, margin)


def squared_margin(x1, x2, same, margin=1.0):
    d = distance(x1, x2)
    return torch.where(same == 1, d**2, torch.relu(margin**2 - d**2)).mean()


def unsquared_hinge(x1, x2, same, margin=1.0):
    d = distance(x1, x2)
    return torch.where(same == 1, d**2, torch.relu(margin - d)).mean()


class Squeezed(SimpleMetricEmbedding):
    def get_features(self, img):
        return super().get_features(img).squeeze()


class ConvBNReLU(SimpleMetricEmbedding):
    def __init__(self, input_channels, emb_size=32):
        super().__init__(input_channels, emb_size)
        self.blocks = nn.ModuleList(
            [
                nn.Sequential(nn.Conv2d(c, emb_size, 3), nn.BatchNorm2d(emb_size), nn.ReLU())
                for c in (input_channels, emb_size, emb_size)
            ]
        )


class Padded(SimpleMetricEmbedding):
    def __init__(self, input_channels, emb_size=32):
        super().__init__(input_channels, emb_size)
        for block in self.blocks:
            block[2].padding = (1, 1)


class AveragePooled(SimpleMetricEmbedding):
    def get_features(self, img):
        x = self.blocks[0](img)
        x = self.blocks[1](F.avg_pool2d(x, 3, 2))
        x = self.blocks[2](F.avg_pool2d(x, 3, 2))
        return x.mean(dim=(2, 3))


class GlobalMaxPooled(SimpleMetricEmbedding):
    def get_features(self, img):
        return super().get_features(img) * 0 + self._last(img).amax(dim=(2, 3))

    def _last(self, img):
        x = self.blocks[0](img)
        x = self.blocks[1](F.max_pool2d(x, 3, 2))
        return self.blocks[2](F.max_pool2d(x, 3, 2))


class WithHead(SimpleMetricEmbedding):
    def __init__(self, input_channels, emb_size=32):
        super().__init__(input_channels, emb_size)
        self.head = nn.Linear(emb_size, emb_size)

    def get_features(self, img):
        return self.head(super().get_features(img))


class UnflattenedIdentity(nn.Module):
    def get_features(self, img):
        return img


class BatchFlattenedIdentity(nn.Module):
    def get_features(self, img):
        return img.reshape(-1)


def nearest_positive(embeddings, labels, margin=1.0):
    d = torch.cdist(embeddings, embeddings)
    same = labels[:, None] == labels[None, :]
    pos = same & ~torch.eye(len(labels), dtype=torch.bool)
    valid = pos.any(1)
    p = torch.where(pos, d, torch.inf).argmin(1)
    n = torch.where(~same, d, torch.inf).argmin(1)
    return triplet_loss(embeddings[valid], embeddings[p[valid]], embeddings[n[valid]], margin)


def self_as_positive(embeddings, labels, margin=1.0):
    d = torch.cdist(embeddings, embeddings)
    same = labels[:, None] == labels[None, :]
    p = torch.where(same, d, -torch.inf).argmax(1)
    n = torch.where(~same, d, torch.inf).argmin(1)
    return triplet_loss(embeddings, embeddings[p], embeddings[n], margin)


def farthest_negative(embeddings, labels, margin=1.0):
    d = torch.cdist(embeddings, embeddings)
    same = labels[:, None] == labels[None, :]
    pos = same & ~torch.eye(len(labels), dtype=torch.bool)
    valid = pos.any(1)
    p = torch.where(pos, d, -torch.inf).argmax(1)
    n = torch.where(~same, d, -torch.inf).argmax(1)
    return triplet_loss(embeddings[valid], embeddings[p[valid]], embeddings[n[valid]], margin)


def stub(*args, **kwargs):
    raise NotImplementedError("Lab 4, task x: write your code here")


class StubDataset(MNISTMetricDataset):  # as nbgrader's stub: __init__ raises
    def __init__(self, root=None, split="train", remove_class=None):
        raise NotImplementedError("Lab 4, task mnist_metric_dataset: write your code here")


class SamplersReturnImages(MNISTMetricDataset):  # the image instead of its index
    def _sample_positive(self, index):
        return self.images[super()._sample_positive(index)]

    def __getitem__(self, index):
        anchor, target = self.images[index].unsqueeze(0), self.targets[index].item()
        if self.split != "train":
            return anchor, target
        return (
            anchor,
            self._sample_positive(index).unsqueeze(0),
            self.images[self._sample_negative(index)].unsqueeze(0),
            target,
        )


WRONG = [  # (task, submission, the quantities it must lose[, words of its hint])
    ("mnist_metric_dataset", PositiveMayBeAnchor, {"positive"}),
    ("mnist_metric_dataset", FirstPositive, {"positive"}),
    ("mnist_metric_dataset", NegativeFromAnyClass, {"negative"}),
    ("mnist_metric_dataset", KeepsRemovedClass, {"remove_class"}),
    ("mnist_metric_dataset", Unscaled, {"items", "remove_class"}),
    ("mnist_metric_dataset", NoChannel, {"items", "remove_class"}),
    ("mnist_metric_dataset", StubDataset, {"items", "positive", "negative", "remove_class"}),
    ("mnist_metric_dataset", SamplersReturnImages, {"positive"}),
    ("triplet_loss", squared_distances, set(lab4.QUANTITIES["triplet_loss"]), "squared distances"),
    ("triplet_loss", no_margin, set(lab4.QUANTITIES["triplet_loss"]), "margin left out"),
    ("triplet_loss", no_eps, {"grad_anchor", "grad_positive", "grad_negative"}, "+ eps||_2"),
    (
        "triplet_loss",
        sqrt_without_eps,
        {"grad_anchor", "grad_positive", "grad_negative"},
        "a division meet 0",
    ),
    ("triplet_loss", summed, set(lab4.QUANTITIES["triplet_loss"]), "sum where the mean is asked"),
    (
        "triplet_loss",
        mean_over_active,
        set(lab4.QUANTITIES["triplet_loss"]),
        ("active triplets only", "a division meet 0"),
    ),
    ("triplet_loss", no_hinge, set(lab4.QUANTITIES["triplet_loss"]), "max(0, .) missing"),
    ("triplet_loss", library_triplet, set(lab4.QUANTITIES["triplet_loss"])),
    ("contrastive_loss", halved_contrastive, set(lab4.QUANTITIES["contrastive_loss"]), "factor 2"),
    ("contrastive_loss", swapped_labels, set(lab4.QUANTITIES["contrastive_loss"]), "wrong labels"),
    ("contrastive_loss", squared_margin, set(lab4.QUANTITIES["contrastive_loss"]), "right on"),
    (
        "contrastive_loss",
        unsquared_hinge,
        set(lab4.QUANTITIES["contrastive_loss"]),
        ("right on", "factor 2"),
    ),
    ("simple_metric_embedding", Squeezed, {"output_shape"}),
    ("simple_metric_embedding", ConvBNReLU, {"parameters", "output"}),
    ("simple_metric_embedding", Padded, {"output"}),
    ("simple_metric_embedding", AveragePooled, {"output"}),
    ("simple_metric_embedding", GlobalMaxPooled, {"output"}),
    ("simple_metric_embedding", WithHead, {"parameters", "output"}),
    ("identity_model", UnflattenedIdentity, {"features"}, "another shape"),
    ("identity_model", BatchFlattenedIdentity, {"features"}, "another shape"),
    ("batch_hard_triplet_loss", nearest_positive, {"loss", "grad_embeddings"}),
    ("batch_hard_triplet_loss", self_as_positive, {"loss", "grad_embeddings"}),
    ("batch_hard_triplet_loss", farthest_negative, {"loss", "grad_embeddings"}),
] + [(task, stub, set(lab4.QUANTITIES[task])) for task in TASKS if task != "mnist_metric_dataset"]


class TestTasks(TaskChecks):
    """The harness's tests (``tests/task_harness.py``) on Lab 4's cases."""

    lab, CASES, WRONG = lab4, CASES, WRONG


grade = TestTasks.grade


class NoSamplers(torch.utils.data.Dataset):
    def __init__(self, root=None, split="train", remove_class=None):
        self.inner = MNISTMetricDataset(root, split, remove_class)

    def __getitem__(self, index):
        return self.inner[index]

    def __len__(self):
        return len(self.inner)


class NoFeatures(nn.Module):
    def features(self, img):
        return img.reshape(len(img), -1)


def test_missing_methods_cost_their_quantities_without_crashing():
    report, _ = grade("mnist_metric_dataset", NoSamplers)
    assert failing(report) == {"positive", "negative", "remove_class"}
    assert "NoSamplers._sample_positive can't be used: AttributeError" in str(report)
    report, _ = grade("identity_model", NoFeatures)
    assert failing(report) == {"features"} and "get_features can't be used" in str(report)
    report, _ = grade("simple_metric_embedding", NoFeatures)
    assert failing(report) == {"parameters", "output_shape", "output"}


def test_messages_explain_the_mistake():
    text = str(grade("triplet_loss", no_eps)[0])
    assert "grad_positive [seed=2, B=4, D=3, kind=zero_distances]: max abs error" in text
    assert "is your distance PyTorch's ||x - y + eps||_2? It is eps sqrt(D)" in text  # the hint
    text = str(grade("simple_metric_embedding", Squeezed)[0])
    assert (
        "output_shape [seed=2, B=1, input_channels=1, emb_size=8]: get_features(img) has "
        "shape (8,), expected (1, 8)" in text
    )
    text = str(grade("mnist_metric_dataset", PositiveMayBeAnchor)[0])
    assert "_sample_positive(0) returned the anchor 0 itself" in text
    text = str(grade("triplet_loss", library_triplet)[0])
    assert "calls torch.nn.functional.triplet_margin_loss: write your own code" in text
    text = str(grade("simple_metric_embedding", ConvBNReLU)[0])
    assert "normalises 8 channels, expected 1: normalisation comes before the convolution" in text


class KernelProxy:
    """A grader's proxy of the student's MNISTMetricDataset (``is_remote``): its kernel has a /tmp
    of its own, so the check must write the data files through ``remote_run``."""

    __dlcourse_remote__ = True

    def __init__(self):
        self.ran, self.roots = [], []

    def __call__(self, root, *args):
        self.roots.append(root)
        return MNISTMetricDataset(root, *args)

    def remote_run(self, fn, *args, **kwargs):
        self.ran.append(fn.__name__)
        return fn(*args, **kwargs)


def test_dataset_files_are_written_where_the_students_code_runs():
    proxy = KernelProxy()
    assert lab4.check_mnist_metric_dataset(proxy, seed=1).points(4) == 4
    assert proxy.ran.count("_new_mnist_folder") == proxy.ran.count("_remove_folder") == 1
    assert len(set(proxy.roots)) == 1 and not Path(proxy.roots[0]).exists()


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize(
    "task",
    ["triplet_loss", "contrastive_loss", "simple_metric_embedding", "batch_hard_triplet_loss"],
)
def test_grading_on_cuda_gives_full_points(task, monkeypatch):
    """DLCOURSE_DEVICE=cuda runs the student's torch code and the oracles on the GPU."""
    monkeypatch.setenv("DLCOURSE_DEVICE", "cuda")
    report, points = grade(task, CASES[task][2])
    assert points == TASKS[task], str(report)


# ----------------------------------------------------------------------------- references, handout

SOLUTION = Path(__file__).resolve().parents[1] / "solutions" / "lab4" / "lab4.ipynb"
HIDDEN = re.compile(r"### BEGIN HIDDEN TESTS.*?### END HIDDEN TESTS\n", re.S)
NAMES = {
    "mnist_metric_dataset": "MNISTMetricDataset",
    "triplet_loss": "triplet_loss",
    "contrastive_loss": "contrastive_loss",
    "simple_metric_embedding": "SimpleMetricEmbedding",
    "identity_model": "IdentityModel",
    "batch_hard_triplet_loss": "batch_hard_triplet_loss",
}
"""Task id -> the name its test cell passes as the student's."""
HANDOUT_WRONG = {
    "mnist_metric_dataset": PositiveMayBeAnchor,
    "triplet_loss": no_margin,
    "contrastive_loss": halved_contrastive,
    "simple_metric_embedding": AveragePooled,
    "identity_model": UnflattenedIdentity,
    "batch_hard_triplet_loss": nearest_positive,
}


def notebook_cells():
    """(solution cells' sources, {task: its visible test cell}) of the solution notebook."""
    solutions, visible = [], {}
    for cell in nbformat.read(SOLUTION, as_version=4).cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution"):
            solutions.append(cell.source)
        elif meta.get("grade"):
            visible[meta["grade_id"]] = HIDDEN.sub("", cell.source)
    return solutions, visible


def run_cell(source, names):
    """A test cell run with ``names`` bound: the points its last line gives."""
    *body, last = source.strip().splitlines()
    namespace = dict(names)
    exec("\n".join(body), namespace)
    return eval(last, namespace)


def test_reference_module_defines_every_name_of_the_solution_cells():
    solutions, visible = notebook_cells()
    defined = {
        name for source in solutions for name in re.findall(r"^(?:def|class) (\w+)", source, re.M)
    }
    assert set(visible) == set(TASKS) and set(NAMES.values()) <= defined
    assert [name for name in sorted(defined) if not hasattr(reference_lab4, name)] == []


@pytest.mark.parametrize("task", list(CASES))
def test_references_get_full_points_on_every_case(task):
    report, points = grade(task, getattr(reference_lab4, NAMES[task]))
    assert points == TASKS[task], str(report)


@pytest.fixture
def handout(tmp_path, monkeypatch):
    """The student handout's view: control outputs recorded from the references by running the
    visible test cells (as ``python -m autograder release`` does), then no references at all."""
    _, visible = notebook_cells()
    with dlcourse.reference.recording() as recorded:
        for task, source in visible.items():
            assert run_cell(source, vars(reference_lab4)) == TASKS[task]
    dlcourse.reference.write_controls(recorded, tmp_path)
    monkeypatch.setattr(dlcourse.reference, "CONTROLS", tmp_path)
    monkeypatch.setattr(dlcourse.reference, "_loaded", {})
    monkeypatch.setattr(dlcourse.reference, "available", lambda lab: False)
    monkeypatch.setattr(dlcourse.reference, "reference", lambda lab, name: None)
    return visible


def test_handout_checks_grade_the_visible_cases_without_references(handout):
    correct = {name: CASES[task][2] for task, name in NAMES.items()}
    for task, source in handout.items():
        assert run_cell(source, correct) == TASKS[task], task
        wrong = {**correct, NAMES[task]: HANDOUT_WRONG[task]}
        assert run_cell(source, wrong) < TASKS[task], task


def test_handout_leaves_hidden_cases_to_the_grader(handout):
    with pytest.raises(NoControl, match="the grader checks this case"):
        lab4.check_contrastive_loss(contrastive_loss, seed=1031, B=25, D=32, margin=2.0)
