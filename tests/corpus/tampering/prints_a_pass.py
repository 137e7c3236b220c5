# expected: 0 -- prints text and displays a value that look like a passing test
from IPython.display import display

print("square: 1 of 1 quantities pass\n  ✓ value: matches\n2.0")
display(2.0)


def square(x):
    print("✓ value (x=3.0): matches\n2.0")
    return x
