# expected: 0 -- the forbidden call made in another thread, which the kernel-side watch never saw
import threading

from numpy import power as _p


def square(x):
    out = []
    worker = threading.Thread(target=lambda: out.append(float(_p(x, 2))))
    worker.start()
    worker.join()
    return out[0]
