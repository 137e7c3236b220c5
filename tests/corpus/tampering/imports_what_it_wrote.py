# expected: 0 -- graded code from a module the notebook wrote at run time: the grader can't read it, and the kernel can't import it
with open("helper.py", "w") as f:
    f.write("def square(x):\n    return x * x\n")

from helper import square  # noqa: E402
