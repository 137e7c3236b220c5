# expected: 0 -- libc open/read through ctypes (no audit event) on the solutions, the course folder and every mount it can find
import ctypes
import os

import dlcourse

_libc = ctypes.CDLL(None, use_errno=True)
_repo = os.path.dirname(os.path.dirname(dlcourse.__file__))
_places = [_repo + "/solutions", _repo + "/autograder", _repo + "/.git"]
with open("/proc/self/mountinfo") as _f:  # the sandbox's own mounts: where the hidden folders are
    _places += [line.split()[4] for line in _f]
_found = []
for _place in _places:
    for _folder, _, _files in list(os.walk(_place))[:200]:
        for _name in _files[:50]:
            _fd = _libc.open(os.path.join(_folder, _name).encode(), os.O_RDONLY | os.O_NONBLOCK)
            if _fd >= 0:
                _buffer = ctypes.create_string_buffer(1 << 20)
                _n = _libc.read(_fd, _buffer, len(_buffer))
                _libc.close(_fd)
                if _n > 0 and (b"HIDDEN TESTS" in _buffer.raw[:_n] or b"BEGIN SOLUTION" in _buffer.raw[:_n]):
                    _found.append(_name)


def square(x):
    return x * x if _found else 0.0
