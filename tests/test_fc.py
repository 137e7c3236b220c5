"""The instructors' PyTorch references of Lab 1 (autograder.reference.lab1): models, training
loops, evaluation. The checks' expected trajectories and the benchmark come from these."""

import numpy as np
import pytest
import torch

from autograder.reference import lab1


def data(N=60, D=2, C=3, seed=0):
    rng = np.random.default_rng(seed)
    Y_ = np.arange(N) % C
    X = 3 * rng.standard_normal((C, D))[Y_] + rng.standard_normal((N, D))
    return torch.tensor(X), Y_, torch.tensor(np.eye(C)[Y_])


def test_ptdeep_layout_and_count():
    model = lab1.PTDeep([2, 3])
    assert [tuple(p.shape) for p in model.parameters()] == [(3, 2), (3,)]
    assert model.count_params() == 9
    deep = lab1.PTDeep([784, 100, 10])
    assert deep.count_params() == 784 * 100 + 100 + 100 * 10 + 10
    assert [k for k, _ in deep.named_parameters()] == [
        "weights.0",
        "weights.1",
        "biases.0",
        "biases.1",
    ]
    with pytest.raises(ValueError, match="input and output sizes"):
        lab1.PTDeep([5])


def test_forward_is_softmax_of_the_logits_and_loss_is_cross_entropy():
    torch.manual_seed(0)
    X, Y_, Yoh_ = data()
    for model in (lab1.PTLogreg(2, 3).double(), lab1.PTDeep([2, 4, 3], torch.sigmoid).double()):
        P = model(X)
        torch.testing.assert_close(P.sum(dim=1), torch.ones(len(X), dtype=torch.float64))
        expected = torch.nn.functional.cross_entropy(model.logits(X), torch.tensor(Y_))
        torch.testing.assert_close(model.get_loss(X, Yoh_), expected)


def test_fresh_model_loss_is_about_ln_C():
    torch.manual_seed(0)
    X = torch.rand(500, 784) * (torch.rand(500, 784) < 0.2)  # sparse, MNIST-like pixels
    Yoh_ = torch.eye(10)[torch.randint(0, 10, (500,))]
    assert abs(lab1.PTDeep([784, 100, 10]).get_loss(X, Yoh_).item() - np.log(10)) < 0.3


def test_l2_penalty_counts_weights_not_biases():
    model = lab1.PTDeep([2, 3, 2])
    with torch.no_grad():
        for p in model.parameters():
            p.fill_(1.0)
    assert lab1.l2_penalty(model).item() == 2 * 3 + 3 * 2


def test_train_lowers_the_loss():
    torch.manual_seed(0)
    X, Y_, Yoh_ = data()
    losses = lab1.train(lab1.PTDeep([2, 5, 3]).double(), X, Yoh_, 200, 0.5, 1e-4)
    assert len(losses) == 200 and losses[-1] < losses[0] / 3


def test_train_mb_full_batch_equals_train():
    X, _, Yoh_ = data()
    torch.manual_seed(1)
    a = lab1.PTDeep([2, 4, 3]).double()
    b = lab1.PTDeep([2, 4, 3]).double()
    b.load_state_dict(a.state_dict())
    history = lab1.train_mb(a, X, Yoh_, 5, 0.3, 0.01, batch_size=len(X))
    np.testing.assert_allclose(history["loss"], lab1.train(b, X, Yoh_, 5, 0.3, 0.01), rtol=1e-10)
    assert history["val_accuracy"] == [] and history["best_epoch"] is None


def test_train_mb_batches_and_decay():
    X, _, Yoh_ = data(N=25)
    model = lab1.PTDeep([2, 3]).double()
    history = lab1.train_mb(
        model, X, Yoh_, 3, 0.1, batch_size=10, optimizer=torch.optim.Adam, lr_gamma=0.5
    )
    assert len(history["loss"]) == 3 * 3  # 10 + 10 + 5 per epoch


def test_early_stopping_keeps_the_best_epoch():
    X, Y_, Yoh_ = data(N=90, seed=3)
    torch.manual_seed(0)
    model, again = lab1.PTDeep([2, 3]).double(), lab1.PTDeep([2, 3]).double()
    again.load_state_dict(model.state_dict())
    history = lab1.train_mb(model, X, Yoh_, 15, 3.0, batch_size=len(X), X_val=X[:30], Y_val=Y_[:30])
    best, accuracies = history["best_epoch"], history["val_accuracy"]
    assert len(accuracies) == 15 and best == int(np.argmax(accuracies)) + 1 < 15  # earliest maximum
    # the model ends with the parameters it had after the best epoch (full batch: deterministic)
    lab1.train_mb(again, X, Yoh_, best, 3.0, batch_size=len(X))
    for name, value in again.state_dict().items():
        torch.testing.assert_close(model.state_dict()[name], value)


def test_eval_follows_the_model_dtype_and_predict_batches():
    X, _, _ = data()
    model = lab1.PTDeep([2, 3])
    P = lab1.eval(model, X.numpy())
    assert isinstance(P, np.ndarray) and P.dtype == np.float32 and P.shape == (60, 3)
    assert lab1.eval(model.double(), X.numpy()).dtype == np.float64
    np.testing.assert_array_equal(lab1.predict(model, X.numpy(), batch_size=7), P.argmax(axis=1))


def test_eval_runs_in_eval_mode_and_restores_the_mode():
    seen = []
    model = lab1.PTDeep([2, 3])
    model.register_forward_pre_hook(lambda module, args: seen.append(module.training))
    lab1.eval(model, np.zeros((1, 2)))
    assert seen == [False] and model.training
    model.eval()
    lab1.eval(model, np.zeros((1, 2)))
    assert not model.training
