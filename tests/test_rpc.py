"""The grader's link to a student's kernel: data comes back by value, requests leave no trace."""
from __future__ import annotations

import nbformat
import numpy as np
import pytest
from nbclient import NotebookClient

from autograder.config import KERNEL_ARGS
from autograder.rpc import Link, Remote
from dlcourse.check import RemoteError

NOTEBOOK = "import numpy as np\ndef scale(x, k=2):\n    return k * x\ndef fail(x):\n    raise ValueError('no')\n"


@pytest.fixture(scope="module")
def kernel():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(NOTEBOOK)])
    client = NotebookClient(nb, kernel_name="python3", extra_arguments=KERNEL_ARGS, timeout=60)
    with client.setup_kernel():
        client.execute_cell(nb.cells[0], 0)

        def execute(code: str):
            cell = nbformat.v4.new_code_cell(code)
            client.execute_cell(cell, 0, store_history=False)
            return cell.outputs
        yield execute


@pytest.mark.parametrize("through_folder", [True, False])
def test_calls_bring_back_arrays_by_value(kernel, tmp_path, through_folder):
    link = Link(kernel, str(tmp_path) if through_folder else None)
    scale = link.request("lookup", "scale")
    assert isinstance(scale, Remote)
    x = np.random.default_rng(0).normal(size=(100, 100))
    np.testing.assert_array_equal(scale(x, k=3), 3 * x)
    assert list(tmp_path.iterdir()) == []  # each request file is gone once read


def test_student_errors_come_back_as_remote_errors(kernel, tmp_path):
    link = Link(kernel, str(tmp_path))
    with pytest.raises(RemoteError, match="ValueError: no"):
        link.request("lookup", "fail")(1)
    with pytest.raises(RemoteError, match="not defined"):
        link.request("lookup", "missing")
    assert list(tmp_path.iterdir()) == []
