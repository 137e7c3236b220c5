# expected: 0 -- the kernel-side call watch (sys.setprofile) switched off before a forbidden call
import sys

import numpy as np


def square(x):
    sys.setprofile(None)
    return float(np.square(x))
