# expected: 2 -- 1 GiB written to /tmp and /dev/shm (and a 300 MiB file in one write): refused past the caps, gone with the kernel; the work is right
import os

for _folder in ("/tmp", "/dev/shm"):
    try:
        with open(f"{_folder}/dlcourse-fill-{os.getpid()}", "wb") as _f:
            for _ in range(64):
                _f.write(b"\0" * (16 << 20))
    except OSError:
        pass
    try:
        with open(f"{_folder}/dlcourse-big-{os.getpid()}", "wb") as _f:
            _f.write(b"\0" * (300 << 20))
    except (OSError, MemoryError):
        pass
    for _name in os.listdir(_folder):
        if _name.startswith("dlcourse-big"):
            os.remove(os.path.join(_folder, _name))  # leave room for the kernel's own work


def square(x):
    return x * x
