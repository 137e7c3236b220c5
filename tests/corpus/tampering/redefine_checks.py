# expected: 0 -- the package's check functions replaced by ones that always pass
import dlcourse.check as check
from dlcourse.check import Comparison, Report

check.compare = lambda quantity, yours, expected, case="", **kw: Comparison(quantity, case, True, "ok")
check.call_student = lambda report, case, fn, *args, **kw: (True, args[0] * args[0])
Report.points = lambda self, max_points: float(max_points)
Report.passed = lambda self, quantity: True


def square(x):
    return 0.0
