# expected: 0 -- a thread that keeps printing a pass and rebinding names while the tests run
import threading
import time


def square(x):
    return 0.0


def _later():
    for _ in range(200):
        time.sleep(0.02)
        print("2.0")
        globals()["report"] = None


threading.Thread(target=_later, daemon=True).start()
