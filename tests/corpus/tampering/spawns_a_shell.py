# expected: 0 -- a shell through os.posix_spawn, and through libc's posix_spawn (ctypes), reading the solutions
import ctypes
import os

import dlcourse

_repo = os.path.dirname(os.path.dirname(dlcourse.__file__))
_out = f"/tmp/spawned-{os.getpid()}"
_command = f"cat {_repo}/solutions/*/*.ipynb {_repo}/autograder/reference/*.py > {_out} 2>&1"
_argv = [b"/bin/sh", b"-c", _command.encode()]
try:
    os.waitpid(os.posix_spawn("/bin/sh", [a.decode() for a in _argv], {}), 0)
except OSError:
    pass
_libc = ctypes.CDLL(None, use_errno=True)
_pid = ctypes.c_int()
_c_argv = (ctypes.c_char_p * 4)(*_argv, None)
if _libc.posix_spawn(ctypes.byref(_pid), b"/bin/sh", None, None, _c_argv, None) == 0:
    _libc.waitpid(_pid, None, 0)
try:
    _read = open(_out, "rb").read()
except OSError:
    _read = b""


def square(x):
    return x * x if b"BEGIN SOLUTION" in _read or b"def " in _read else 0.0
