"""A vanilla RNN in NumPy with backpropagation through time: the course's reference (Lab 3, part 0).

Shapes: x (N, T, D) inputs, h0 (N, H) initial state, W_xh (D, H), W_hh (H, H), b_h (H,),
W_hy (H, C), b_y (C,). One step and the whole sequence:

    h_t = tanh(x_t W_xh + h_{t-1} W_hh + b_h)                      h: (N, T, H), all states

Outputs: per-step (dense) logits o_t = h_t W_hy + b_y, (N, T, C), or for sequence classification
only the last one, o = h_T W_hy + b_y, (N, C).

Backward, with a_t = x_t W_xh + h_{t-1} W_hh + b_h and upstream gradients dL/do: going back in
time, the gradient reaching h_t comes from its output *and* from step t+1,

    dh_t = dL/do_t W_hy^T + da_{t+1} W_hh^T,      da_t = dh_t * (1 - h_t^2),

and each parameter sums its gradient over the steps (dW_hh = sum_t h_{t-1}^T da_t, ...).
"""
from __future__ import annotations

import numpy as np

GRADIENTS = ("x", "h0", "W_xh", "W_hh", "b_h", "W_hy", "b_y")
"""The keys of ``rnn_backward``'s result."""


def rnn_step_forward(x: np.ndarray, h_prev: np.ndarray, W_xh: np.ndarray, W_hh: np.ndarray,
                     b_h: np.ndarray) -> np.ndarray:
    """h_t = tanh(x_t W_xh + h_{t-1} W_hh + b_h): x (N, D), h_prev (N, H) -> (N, H)."""
    return np.tanh(x @ W_xh + h_prev @ W_hh + b_h)


def rnn_forward(x: np.ndarray, h0: np.ndarray, W_xh: np.ndarray, W_hh: np.ndarray,
                b_h: np.ndarray) -> np.ndarray:
    """All hidden states (N, T, H) of the RNN over x (N, T, D), starting from h0 (N, H)."""
    states = []
    h = h0
    for t in range(x.shape[1]):
        h = rnn_step_forward(x[:, t], h, W_xh, W_hh, b_h)
        states.append(h)
    return np.stack(states, axis=1)  # (N, T, H)


def rnn_logits(h: np.ndarray, W_hy: np.ndarray, b_y: np.ndarray, *, dense: bool) -> np.ndarray:
    """Logits of every step (N, T, C) when ``dense``, else of the last step only (N, C)."""
    return (h if dense else h[:, -1]) @ W_hy + b_y


def rnn_backward(d_logits: np.ndarray, x: np.ndarray, h0: np.ndarray, h: np.ndarray,
                 W_xh: np.ndarray, W_hh: np.ndarray, W_hy: np.ndarray) -> dict[str, np.ndarray]:
    """Backpropagation through time.

    Args:
        d_logits: upstream gradient dL/do, (N, T, C) for per-step logits or (N, C) for the
            last step's only (sequence classification).
        x, h0: the forward pass's inputs, (N, T, D) and (N, H).
        h: the forward pass's states, (N, T, H).
        W_xh, W_hh, W_hy: the weights, (D, H), (H, H), (H, C).

    Returns:
        {"x", "h0", "W_xh", "W_hh", "b_h", "W_hy", "b_y"} -> dL/d(that), of its shape.
    """
    N, T, H = h.shape
    if d_logits.ndim == 2:  # classification: only the last step has an output
        d_out = np.zeros((N, T, d_logits.shape[1]))
        d_out[:, -1] = d_logits
    else:
        d_out = d_logits
    grads = {"x": np.zeros_like(x), "W_xh": np.zeros_like(W_xh), "W_hh": np.zeros_like(W_hh),
             "b_h": np.zeros(H), "W_hy": np.einsum("nth,ntc->hc", h, d_out),
             "b_y": d_out.sum(axis=(0, 1))}
    dh_next = np.zeros((N, H))  # dL/dh_t through step t+1
    for t in reversed(range(T)):
        dh = d_out[:, t] @ W_hy.T + dh_next  # (N, H): from the output at t and from the future
        da = dh * (1 - h[:, t] ** 2)  # (N, H): through tanh
        h_prev = h[:, t - 1] if t > 0 else h0
        grads["x"][:, t] = da @ W_xh.T
        grads["W_xh"] += x[:, t].T @ da
        grads["W_hh"] += h_prev.T @ da
        grads["b_h"] += da.sum(axis=0)
        dh_next = da @ W_hh.T
    grads["h0"] = dh_next
    return grads


def global_norm(grads: dict[str, np.ndarray]) -> float:
    """sqrt(sum of the squares of every array's elements)."""
    return float(np.sqrt(sum(np.sum(g ** 2) for g in grads.values())))


def clip_gradients(grads: dict[str, np.ndarray], max_norm: float) -> dict[str, np.ndarray]:
    """Scale every gradient by max_norm / norm when their global norm exceeds max_norm.

    The direction is kept; only the step gets shorter (as ``torch.nn.utils.clip_grad_norm_``).
    Returns a new dict of the same keys.
    """
    norm = global_norm(grads)
    scale = max_norm / norm if norm > max_norm else 1.0
    return {name: g * scale for name, g in grads.items()}
