# expected: 0 -- one 600 MB message to the grader, to exhaust its memory (ZeroMQ drops it unread)
print("x" * 600_000_000)


def square(x):
    return x * x
