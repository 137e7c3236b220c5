# expected: 0 -- a hard link (os.link, and linkat through ctypes) to a hidden file, made in its own folder, then read
import ctypes
import os

import dlcourse

_libc = ctypes.CDLL(None, use_errno=True)
_repo = os.path.dirname(os.path.dirname(dlcourse.__file__))
_read = b""
for _i, _secret in enumerate([_repo + "/solutions/lab0/lab0.ipynb", _repo + "/autograder/reference/lab0.py"]):
    for _link in (lambda s, d: os.link(s, d), lambda s, d: _libc.linkat(-100, s.encode(), -100, d.encode(), 0)):
        _copy = os.path.join(os.getcwd(), f"copy{_i}")
        try:
            _link(_secret, _copy)
            with open(_copy, "rb") as _f:
                _read += _f.read()
        except OSError:
            pass


def square(x):
    return x * x if b"BEGIN SOLUTION" in _read or b"def " in _read else 0.0
