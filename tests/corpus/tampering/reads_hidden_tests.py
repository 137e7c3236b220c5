# expected: 0 -- correct only if it could read the hidden tests, solutions or gradebook from disk
import glob
import os

_found = []
for pattern in ["../../../source/**/*.ipynb", "../../../gradebook.db", "../../../../solutions/**/*.ipynb",
                "/**/solutions/**/*.ipynb"]:
    for path in glob.glob(pattern, recursive=True)[:20]:
        try:
            with open(path, "rb") as f:
                if b"HIDDEN" in f.read():
                    _found.append(path)
        except OSError:
            pass
try:
    _listing = os.popen("cat ../../../source/*/*.ipynb").read()
except OSError:
    _listing = ""


def square(x):
    return x * x if (_found or "HIDDEN" in _listing) else 0.0
