"""Lab 3, part 0: the NumPy RNN references (autograder.reference.lab3) against autograd, and
gradient clipping; the given output layer and gradient keys (dlcourse.rnn)."""

from functools import partial

import numpy as np
import pytest
import torch

from autograder.reference import lab3 as ref
from dlcourse import rnn
from dlcourse.check import autograd_reference, numerical_gradient

pytestmark = pytest.mark.lab3


def _logits(x, h0, W_xh, W_hh, b_h, W_hy, b_y, *, dense):
    h, states = h0, []
    for t in range(x.shape[1]):
        h = torch.tanh(x[:, t] @ W_xh + h @ W_hh + b_h)
        states.append(h)
    h = torch.stack(states, 1)
    return (h if dense else h[:, -1]) @ W_hy + b_y


def _inputs(seed, N=3, T=5, D=4, H=6, C=3):
    rng = np.random.default_rng(seed)
    return dict(
        x=rng.standard_normal((N, T, D)),
        h0=rng.standard_normal((N, H)) * 0.5,
        W_xh=rng.standard_normal((D, H)) / 2,
        W_hh=rng.standard_normal((H, H)) / 3,
        b_h=rng.standard_normal(H),
        W_hy=rng.standard_normal((H, C)),
        b_y=rng.standard_normal(C),
    )


@pytest.mark.parametrize("dense", [False, True])
def test_forward_and_bptt_match_autograd(dense):
    p = _inputs(0)
    h = ref.rnn_forward(p["x"], p["h0"], p["W_xh"], p["W_hh"], p["b_h"])
    logits, grads = autograd_reference(partial(_logits, dense=dense), p, rnn.GRADIENTS, seed=1)
    np.testing.assert_allclose(
        rnn.rnn_logits(h, p["W_hy"], p["b_y"], dense=dense), logits, rtol=1e-12
    )
    d_logits = np.random.default_rng(2).standard_normal(logits.shape)
    _, grads = autograd_reference(
        partial(_logits, dense=dense), p, rnn.GRADIENTS, grad_out=d_logits
    )
    mine = ref.rnn_backward(d_logits, p["x"], p["h0"], h, p["W_xh"], p["W_hh"], p["W_hy"])
    assert set(mine) == set(rnn.GRADIENTS)
    for name in rnn.GRADIENTS:
        np.testing.assert_allclose(mine[name], grads[name], rtol=1e-9, atol=1e-12, err_msg=name)


def test_bptt_matches_central_differences():
    p = _inputs(3, N=2, T=3, D=2, H=3, C=2)
    d_logits = np.random.default_rng(4).standard_normal((2, 2))

    def logits(W_hh):
        h = ref.rnn_forward(p["x"], p["h0"], p["W_xh"], W_hh, p["b_h"])
        return rnn.rnn_logits(h, p["W_hy"], p["b_y"], dense=False)

    h = ref.rnn_forward(p["x"], p["h0"], p["W_xh"], p["W_hh"], p["b_h"])
    grads = ref.rnn_backward(d_logits, p["x"], p["h0"], h, p["W_xh"], p["W_hh"], p["W_hy"])
    np.testing.assert_allclose(
        grads["W_hh"],
        numerical_gradient(logits, p["W_hh"].copy(), df=d_logits),
        rtol=1e-6,
        atol=1e-9,
    )


def test_gradient_reaching_early_steps_vanishes_or_explodes_with_the_recurrent_weights():
    """In the linear regime (h = 0) the gradient reaching step t is (W_hh^T)^(T-t) times the last
    one: its norm shrinks like rho^(T-t) for spectral radius rho < 1 and grows for rho > 1."""
    H, T = 8, 30
    Q, _ = np.linalg.qr(np.random.default_rng(0).standard_normal((H, H)))  # orthogonal
    x, h0 = np.zeros((1, T, H)), np.zeros((1, H))
    norms = {}
    for rho in (0.8, 1.2):
        h = ref.rnn_forward(x, h0, np.eye(H), rho * Q, np.zeros(H))
        dx = ref.rnn_backward(np.ones((1, H)), x, h0, h, np.eye(H), rho * Q, np.eye(H))["x"]
        norms[rho] = np.linalg.norm(dx[0], axis=1)  # (T,)
        np.testing.assert_allclose(norms[rho][:-1] / norms[rho][1:], rho, rtol=1e-12)
    assert norms[0.8][0] < 1e-2 * norms[0.8][-1] and norms[1.2][0] > 1e2 * norms[1.2][-1]


def test_clip_gradients_scales_only_large_gradients():
    grads = {"a": np.array([3.0, 0.0]), "b": np.array([[0.0, 4.0]])}
    assert ref.global_norm(grads) == 5.0
    clipped = ref.clip_gradients(grads, 1.0)
    np.testing.assert_allclose(clipped["a"], [0.6, 0.0])
    np.testing.assert_allclose(clipped["b"], [[0.0, 0.8]])
    same = ref.clip_gradients(grads, 10.0)
    assert all(np.array_equal(same[k], grads[k]) for k in grads) and same is not grads
