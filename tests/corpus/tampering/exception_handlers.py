# expected: 0 -- failures hidden by an IPython custom exception handler and sys.excepthook
import sys

sys.excepthook = lambda *args: print("2.0")
get_ipython().set_custom_exc((BaseException,), lambda shell, etype, value, tb, tb_offset=None: print("2.0"))


def square(x):
    raise ValueError("not done")
