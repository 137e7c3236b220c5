# expected: 0 -- TCP to the grader's machine (127.0.0.1: SSH, Dask, databases, a test's listener) and to the internet
import socket

_reached = []
for _host, _port in [("127.0.0.1", p) for p in (22, 5432, 8786, 8888, 47613)] + [("1.1.1.1", 53)]:
    try:
        with socket.create_connection((_host, _port), timeout=0.5):
            _reached.append((_host, _port))
    except OSError:
        pass


def square(x):
    return x * x if _reached else 0.0
