# expected: 0 -- sys.exit in the solution cell and in the function
import sys


def square(x):
    sys.exit(0)


sys.exit(0)
