"""dlcourse.check.oracles: seeds, the float64 autograd reference, the numerical gradient."""

import random

import numpy as np
import pytest
import torch

from dlcourse.check import (
    AUTOGRAD,
    autograd_reference,
    forbid_calls,
    numerical_gradient,
    seed_all,
    upstream_gradient,
)

# ----------------------------------------------------------------------------- seed_all


def test_seed_all_makes_random_numpy_and_torch_reproducible():
    def draw():
        return random.random(), np.random.rand(3).tolist(), torch.rand(3).tolist()

    seed_all(7)
    first = draw()
    seed_all(7)
    assert draw() == first
    seed_all(8)
    assert draw() != first


# ----------------------------------------------------------------------------- oracles

A = np.random.default_rng(0).standard_normal((3, 2))


def _tanh_layer(x, A):
    return torch.tanh(x @ A)


def test_autograd_reference_uses_random_upstream_gradient():
    x = np.random.default_rng(1).standard_normal((4, 3))
    y, grads = autograd_reference(_tanh_layer, {"x": x, "A": A}, ["x"], seed=5)
    g = upstream_gradient((4, 2), seed=5)
    expected = (g * (1 - np.tanh(x @ A) ** 2)) @ A.T
    np.testing.assert_allclose(y, np.tanh(x @ A), rtol=1e-12)
    np.testing.assert_allclose(grads["x"], expected, rtol=1e-12)
    assert grads["x"].dtype == np.float64 and set(grads) == {"x"}
    _, of_sum = autograd_reference(_tanh_layer, {"x": x, "A": A}, ["x"], grad_out=np.ones((4, 2)))
    assert not np.allclose(of_sum["x"], grads["x"])  # never a plain .sum()


def test_autograd_reference_scalar_output_and_float32_inputs():
    x = np.arange(3, dtype=np.float32)
    y, grads = autograd_reference(
        lambda x, unused: (x**2).sum(), {"x": x, "unused": 1.0}, ["x", "unused"]
    )
    assert y.shape == () and y.dtype == np.float64 and y == 5.0
    np.testing.assert_array_equal(grads["x"], [0.0, 2.0, 4.0])
    assert grads["unused"].shape == () and grads["unused"] == 0.0


def test_numerical_gradient_matches_autograd_and_restores_x():
    x = np.random.default_rng(2).standard_normal((4, 3))
    x_before = x.copy()
    g = upstream_gradient((4, 2), seed=1)
    numeric = numerical_gradient(lambda x: np.tanh(x @ A), x, g)
    _, grads = autograd_reference(_tanh_layer, {"x": x, "A": A}, ["x"], grad_out=g)
    np.testing.assert_allclose(numeric, grads["x"], rtol=1e-6, atol=1e-8)
    np.testing.assert_array_equal(x, x_before)
    with pytest.raises(TypeError, match="float64"):
        numerical_gradient(np.sum, x.astype(np.float32))


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error without a GPU")
def test_autograd_reference_cuda_without_gpu_says_so():
    with pytest.raises(RuntimeError, match="no CUDA device"):
        autograd_reference(_tanh_layer, {"x": np.ones((1, 3)), "A": A}, ["x"], device="cuda")


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_autograd_reference_on_cuda_matches_cpu_and_restores_tf32():
    x = np.random.default_rng(3).standard_normal((64, 3))
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    try:
        seen = []

        def layer(x, A):
            seen.append((torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32))
            return torch.tanh(x.float() @ A.float()).double()  # TF32 would lose ~1e-3 here

        y_gpu, g_gpu = autograd_reference(
            layer, {"x": x, "A": A}, ["x", "A"], device=torch.device("cuda")
        )
        y_cpu, g_cpu = autograd_reference(layer, {"x": x, "A": A}, ["x", "A"])
        assert seen[0] == (False, False)
        assert torch.backends.cuda.matmul.allow_tf32 and torch.backends.cudnn.allow_tf32
        np.testing.assert_allclose(y_gpu, y_cpu, atol=1e-5)
        np.testing.assert_allclose(g_gpu["A"], g_cpu["A"], atol=1e-4)
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def test_numerical_gradient_takes_cs231n_s_names_and_step():
    """``numerical_gradient(f, x, df=None, h=1e-5)``: df weights the outputs, h is the step."""
    x = np.array([0.5, -1.0])
    df = np.array([2.0, -3.0])
    np.testing.assert_allclose(numerical_gradient(lambda v: v**2, x, df=df), 2 * x * df, atol=1e-9)
    np.testing.assert_allclose(numerical_gradient(lambda v: (v**2).sum(), x), 2 * x, atol=1e-9)
    cube = numerical_gradient(lambda v: (v**3).sum(), x.copy(), h=0.1)  # error h^2 per element
    np.testing.assert_allclose(cube, 3 * x**2 + 0.1**2, atol=1e-12)


def test_autograd_lists_what_differentiates_for_a_student():
    x = np.ones(2)
    for differentiate in (
        lambda: numerical_gradient(np.sum, x),
        lambda: autograd_reference(lambda x: x.sum(), {"x": x}, ["x"]),
        lambda: torch.ones(2, requires_grad=True).sum().backward(),
    ):
        with forbid_calls(*AUTOGRAD) as called:
            differentiate()
        assert called, differentiate
