# expected: 0 -- libc fork (no audit event): a process left behind to tamper with the next student, then a process bomb
import ctypes
import time

_libc = ctypes.CDLL(None, use_errno=True)
_children = 0


def square(x):
    return x * x if _children >= 1000 else 0.0


if _libc.fork() == 0:  # the child: named so that tests can look for it, then waits for later grading
    _libc.setsid()
    _libc.prctl(15, b"dlcourse-orphan", 0, 0, 0)  # PR_SET_NAME
    while True:
        _libc.pause()
time.sleep(0.2)
_argv = (ctypes.c_char_p * 3)(b"/bin/sleep", b"1000", None)
_pid = ctypes.c_int()
while _children < 1000:  # RLIMIT_NPROC (256 tasks) must stop this long before
    if _libc.posix_spawn(ctypes.byref(_pid), b"/bin/sleep", None, None, _argv, None) != 0:
        break
    _children += 1
