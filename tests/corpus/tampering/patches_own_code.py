# expected: 0 -- the kernel-side own_code check switched off, then a library's square as the task
import numpy

import dlcourse.check.student

dlcourse.check.student.own_code = lambda fn, name: None
square = numpy.square
