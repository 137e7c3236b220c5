# expected: 0 -- comparisons that always pass, then a wrong answer
import numpy as np
import numpy.testing
import torch

torch.allclose = lambda *args, **kwargs: True
np.allclose = lambda *args, **kwargs: True
np.testing.assert_allclose = lambda *args, **kwargs: None
numpy.testing.assert_array_almost_equal = lambda *args, **kwargs: None


def square(x):
    return 0.0
