# expected: 0 -- a library's square imported by exec of a built string, so no import is seen
_name = "num" + "py"


def square(x):
    scope = {}
    exec(f"from {_name} import square as s", scope)
    return float(scope["s"](x))
