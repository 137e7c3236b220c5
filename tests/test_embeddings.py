"""dlcourse.embeddings: class-mean classification, retrieval AP (against scikit-learn), training
epoch and PCA plots, on small data whose answers are known."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from sklearn.metrics import average_precision_score  # noqa: E402
from torch import nn  # noqa: E402
from torch.utils.data import DataLoader, TensorDataset  # noqa: E402

from dlcourse import embeddings  # noqa: E402

pytestmark = pytest.mark.lab4


class Flatten(nn.Module):
    """Embedding = the input, flattened (as the lab's IdentityModel)."""

    def get_features(self, img):
        return img.reshape(len(img), -1)


class Squeezing(Flatten):
    def get_features(self, img):
        return super().get_features(img).squeeze()


def loader(x, y, batch_size=4):
    return DataLoader(
        TensorDataset(torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(y)),
        batch_size=batch_size,
    )


# ----------------------------------------------------------------------------- classification


def test_representations_are_class_means():
    x = np.array([[2.0, 0.0], [4.0, 0.0], [0.0, 1.0], [0.0, 3.0], [3.0, 4.0]])
    y = np.array([0, 0, 1, 1, 2])
    reps = embeddings.compute_representations(Flatten(), loader(x, y, batch_size=2), num_classes=3)
    np.testing.assert_allclose(reps.numpy(), [[3, 0], [0, 2], [3, 4]], atol=1e-6)


def test_a_class_missing_from_the_loader_is_a_clear_error():
    with pytest.raises(ValueError, match=r"no image of class\(es\) \[2\].*traineval"):
        embeddings.compute_representations(Flatten(), loader(np.eye(2), [0, 1]), num_classes=3)


def test_nearest_class_mean_compares_euclidean_distances():
    reps = torch.tensor([[1.0, 0.0], [4.0, 0.0]])
    features = torch.tensor([[0.0, 0.0], [2.6, 0.0], [3.0, 5.0]])  # one direction, other lengths
    assert embeddings.nearest_class_mean(features, reps).tolist() == [0, 1, 1]


def test_normalize_compares_directions_as_the_course_does():
    # the course scales the class means and the queries to unit length: lengths stop counting
    reps = torch.tensor([[1.0, 0.0], [0.0, 4.0]])
    features = torch.tensor([[0.5, 0.6], [3.0, 1.0], [0.1, 3.0]])
    assert embeddings.nearest_class_mean(features, reps).tolist() == [0, 0, 1]
    assert embeddings.nearest_class_mean(features, reps, normalize=True).tolist() == [1, 0, 1]


def test_class_mean_accuracy_is_top1_accuracy():
    reps = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    x, y = np.array([[3.0, 1.0], [1.0, 3.0], [2.0, 0.5], [0.5, 2.0]]), np.array([0, 1, 1, 1])
    assert embeddings.class_mean_accuracy(Flatten(), reps, loader(x, y, batch_size=3)) == 0.75
    reps = torch.tensor([[1.0, 0.0], [0.0, 9.0]])  # far in length, near in direction
    x, y = np.array([[0.4, 0.5], [0.5, 0.4]]), np.array([1, 0])
    assert embeddings.class_mean_accuracy(Flatten(), reps, loader(x, y)) == 0.5
    assert embeddings.class_mean_accuracy(Flatten(), reps, loader(x, y), normalize=True) == 1.0


def test_embed_refuses_features_without_a_batch_dimension():
    with pytest.raises(ValueError, match=r"shape \(2,\) for 1 images.*also for B = 1"):
        embeddings.embed(Squeezing(), loader(np.eye(2)[:1], [0]))


# ----------------------------------------------------------------------------- retrieval


def test_average_precision_matches_sklearn_with_and_without_ties():
    rng = np.random.default_rng(0)
    for scores in (rng.standard_normal((30, 25)), rng.integers(0, 4, (30, 25)).astype(float)):
        relevant = rng.random((30, 25)) < 0.3
        relevant[:, 0] = True  # every query has a relevant item
        expected = [average_precision_score(r, s) for r, s in zip(relevant, scores)]
        np.testing.assert_allclose(
            embeddings.average_precision(scores, relevant), expected, rtol=1e-12
        )


def test_average_precision_of_known_rankings():
    scores = np.array([[3.0, 2.0, 1.0, 0.0]] * 3)
    relevant = np.array([[1, 1, 0, 0], [0, 0, 1, 1], [0, 1, 0, 1]])
    np.testing.assert_allclose(
        embeddings.average_precision(scores, relevant),
        [1.0, (1 / 3 + 2 / 4) / 2, (1 / 2 + 2 / 4) / 2],
    )


@pytest.mark.parametrize(
    "scores, relevant, message",
    [
        (np.zeros((2, 3)), np.ones((3, 2)), "must be two arrays of one shape"),
        (np.array([[0.0, np.nan]]), np.ones((1, 2)), "NaN"),
        (np.array([[0.0, -np.inf]]), np.ones((1, 2)), "infinity"),
        (np.zeros((2, 3)), np.array([[1, 0, 0], [0, 0, 0]]), "query 1 has no relevant item"),
    ],
)
def test_average_precision_refuses_bad_input(scores, relevant, message):
    with pytest.raises(ValueError, match=message):
        embeddings.average_precision(scores, relevant)


def test_average_precision_is_no_answer_to_lab0s_eval_AP(capsys):
    """Given code ranks with scikit-learn's AP, which Lab 0's eval_AP may not call: a wrapper
    around it earns nothing (a hand-written AP here would be the answer, renamed)."""
    from dlcourse.tasks.lab0 import check_eval_AP

    def eval_AP(ranked_labels):
        y = np.asarray(ranked_labels)
        return float(embeddings.average_precision(np.arange(len(y))[None], y[None])[0])

    assert check_eval_AP(eval_AP, seed=1, N=10).points(2) == 0
    assert "average_precision_score: write your own code" in capsys.readouterr().out


def test_retrieval_ap_ranks_by_distance_as_sklearn():
    rng = np.random.default_rng(1)
    queries, gallery = rng.standard_normal((7, 3)), rng.standard_normal((20, 3))
    q_labels, g_labels = rng.integers(0, 3, 7), np.arange(20) % 3
    distances = np.linalg.norm(queries[:, None] - gallery[None], axis=2)  # (7, 20)
    expected = [average_precision_score(g_labels == c, -d) for c, d in zip(q_labels, distances)]
    ap = embeddings.retrieval_average_precision(
        torch.tensor(queries), q_labels, torch.tensor(gallery), g_labels, chunk=3
    )
    np.testing.assert_allclose(ap, expected, rtol=1e-10)


def test_exclude_self_leaves_each_query_out_of_its_own_ranking():
    rng = np.random.default_rng(2)
    x, labels = rng.standard_normal((12, 4)), np.arange(12) % 3
    expected = []
    for i in range(12):
        others = np.arange(12) != i
        d = np.linalg.norm(x[others] - x[i], axis=1)
        expected.append(average_precision_score(labels[others] == labels[i], -d))
    ap = embeddings.retrieval_average_precision(x, labels, x, labels, exclude_self=True, chunk=5)
    np.testing.assert_allclose(ap, expected, rtol=1e-10)
    assert embeddings.mean_average_precision(
        x, labels, x, labels, exclude_self=True
    ) == pytest.approx(np.mean(expected))
    with pytest.raises(ValueError, match="exclude_self needs the queries to be the gallery"):
        embeddings.retrieval_average_precision(x[:3], labels[:3], x, labels, exclude_self=True)


# ----------------------------------------------------------------------------- training, plots


class LinearEmbedding(nn.Module):
    """A one-number embedding of (B, 1, 1, 2) images; records the batch sizes it embeds."""

    def __init__(self):
        super().__init__()
        self.layer, self.seen = nn.Linear(2, 1), []

    def get_features(self, img):
        self.seen.append(len(img))
        return self.layer(img.reshape(len(img), -1))  # (B, 1)


def squared_error(features, labels):
    return ((features.squeeze(1) - labels) ** 2).mean()


def regression_data(n=64, batch_size=8):
    x = torch.randn(n, 1, 1, 2)
    return DataLoader(
        TensorDataset(x, x.reshape(n, 2) @ torch.tensor([2.0, -1.0])), batch_size=batch_size
    )


def test_train_embedding_epoch_steps_the_optimizer_and_returns_the_mean_loss():
    torch.manual_seed(0)
    data, model = regression_data(), LinearEmbedding()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    first = embeddings.train_embedding_epoch(model, data, optimizer, squared_error)
    later = [
        embeddings.train_embedding_epoch(model, data, optimizer, squared_error) for _ in range(5)
    ]
    assert model.training and later[-1] < 0.01 * first
    with torch.no_grad():
        mean = np.mean([squared_error(model.get_features(x), y).item() for x, y in data])
    assert embeddings.train_embedding_epoch(
        model, data, torch.optim.SGD(model.parameters(), lr=0.0), squared_error
    ) == pytest.approx(mean)


def test_train_embedding_epoch_embeds_a_triplet_batch_in_one_pass():
    torch.manual_seed(0)
    anchor, positive, negative = torch.randn(3, 12, 1, 1, 2)
    data = DataLoader(TensorDataset(anchor, positive, negative, torch.arange(12)), batch_size=4)
    model, calls = LinearEmbedding(), []

    def loss_fn(a, p, n, labels):
        calls.append((a.detach(), p.detach(), n.detach(), labels.tolist()))
        return (a - p).pow(2).mean() - (a - n).pow(2).mean()

    embeddings.train_embedding_epoch(
        model, data, torch.optim.SGD(model.parameters(), lr=0.0), loss_fn
    )
    assert model.seen == [12, 12, 12]  # anchors, positives and negatives together
    a, p, n, labels = calls[0]
    with torch.no_grad():
        for got, images in zip((a, p, n), (anchor, positive, negative)):
            torch.testing.assert_close(got, model.layer(images[:4].reshape(4, 2)))
    assert labels == [0, 1, 2, 3]


def test_train_embedding_epoch_refuses_an_empty_loader():
    model = LinearEmbedding()
    with pytest.raises(ValueError, match="no batch"):
        embeddings.train_embedding_epoch(
            model, [], torch.optim.SGD(model.parameters(), lr=0.1), squared_error
        )


def test_plot_pca_draws_one_coloured_group_per_class():
    rng = np.random.default_rng(3)
    images = torch.tensor(rng.random((30, 1, 4, 4)))
    labels = np.repeat([0, 1, 7], 10)
    fig, ax = plt.subplots()
    assert embeddings.plot_pca(images, labels, ax=ax, title="t") is ax
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["0", "1", "7"]
    assert [len(c.get_offsets()) for c in ax.collections] == [10, 10, 10]
    assert ax.get_title() == "t"
    plt.close(fig)


def test_train_embedding_epoch_steps_the_cosine_schedule_once_per_batch():
    data, model = regression_data(n=32), LinearEmbedding()  # 4 batches
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    scheduler = embeddings.cosine_schedule(optimizer, steps=2 * len(data))
    embeddings.train_embedding_epoch(model, data, optimizer, squared_error, scheduler=scheduler)
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.5e-3)  # half way: cos(pi/2)
    embeddings.train_embedding_epoch(model, data, optimizer, squared_error, scheduler=scheduler)
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.0, abs=1e-12)
