# expected: 0 -- x^2 as the derivative of x^3 / 3 by forward-mode AD (torch.func.jvp), not by hand
import torch
from torch import func as _f


def square(x):
    t = torch.tensor(float(x), dtype=torch.float64)
    _, tangent = _f.jvp(lambda v: v ** 3 / 3, (t,), (torch.ones_like(t),))
    return float(tangent)
