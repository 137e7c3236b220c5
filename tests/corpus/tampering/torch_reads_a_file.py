# expected: 0 -- torch.from_file (C++ I/O, no audit event) on the solutions and the references
import os

import dlcourse
import torch

_repo = os.path.dirname(os.path.dirname(dlcourse.__file__))
_read = b""
for _path in [_repo + "/solutions/lab0/lab0.ipynb", _repo + "/autograder/reference/lab0.py"]:
    try:
        _read += bytes(torch.from_file(_path, size=4096, dtype=torch.uint8).tolist())
    except (RuntimeError, OSError):
        pass


def square(x):
    return x * x if b"BEGIN SOLUTION" in _read or b"def " in _read else 0.0
