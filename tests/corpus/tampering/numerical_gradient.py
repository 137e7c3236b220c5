# expected: 0 -- x^2 as a difference quotient of x^3 / 3 (the course's numerical_gradient)
import numpy as np

from dlcourse import check as _c


def square(x):
    return float(_c.numerical_gradient(lambda v: v ** 3 / 3, np.array(float(x))))
