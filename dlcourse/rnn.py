"""The given pieces of Lab 3, part 0 (a vanilla RNN in NumPy): shapes, output layer, gradient keys.

Shapes: x (N, T, D) inputs, h0 (N, H) initial state, W_xh (D, H), W_hh (H, H), b_h (H,),
W_hy (H, C), b_y (C,). One step and the whole sequence, which students write
(``rnn_step_forward``, ``rnn_forward``):

    h_t = tanh(x_t W_xh + h_{t-1} W_hh + b_h)                      h: (N, T, H), all states

Outputs (given, ``rnn_logits``): per-step (dense) logits o_t = h_t W_hy + b_y, (N, T, C), or for
sequence classification only the last one, o = h_T W_hy + b_y, (N, C). Students' ``rnn_backward``
returns the gradients under the keys ``GRADIENTS``. The instructors' references of the graded
tasks are in ``autograder.reference.lab3``, not here.
"""

from __future__ import annotations

import numpy as np

GRADIENTS = ("x", "h0", "W_xh", "W_hh", "b_h", "W_hy", "b_y")
"""The keys of ``rnn_backward``'s result."""


def rnn_logits(h: np.ndarray, W_hy: np.ndarray, b_y: np.ndarray, *, dense: bool) -> np.ndarray:
    """Logits of every step (N, T, C) when ``dense``, else of the last step only (N, C)."""
    return (h if dense else h[:, -1]) @ W_hy + b_y
