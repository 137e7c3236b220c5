"""autograder.integrity: the grader's own check of what a graded function uses, on the source.

Each way around a rule that a student (who has read the grader) might try is caught, and no
solution notebook breaks its own rules."""

from __future__ import annotations

import ast
import importlib
import inspect
from pathlib import Path

import nbformat
import pytest

from autograder import integrity
from autograder.integrity import lab_rules, violations

SOLUTIONS = Path(__file__).resolve().parents[1] / "solutions"
LABS = sorted(p.parent.name for p in SOLUTIONS.glob("*/*.ipynb"))

SETUP = "%matplotlib inline\nimport numpy as np\nfrom dlcourse.check import numerical_gradient"
HONEST = """def binlogreg_loss_grad(X, Y_, w, b, param_lambda=0.0):
    s = X @ w + b
    p = 1 / (1 + np.exp(-s))
    loss = np.mean(np.logaddexp(0, s) - Y_ * s) + param_lambda * w @ w
    return loss, X.T @ (p - Y_) / len(X) + 2 * param_lambda * w, np.mean(p - Y_)"""
TEST = """from dlcourse.tasks.lab0 import check_binlogreg_loss_grad
report = check_binlogreg_loss_grad(binlogreg_loss_grad, seed=1, N=6, D=2)
report.points(3)"""
GRADIENT_CHECK = """import torch
w = torch.zeros(3, requires_grad=True)
loss = (w ** 2).sum()
loss.backward()
print(w.grad, numerical_gradient(lambda v: binlogreg_loss_grad(X, Y_, v, 0.0)[0], np.zeros(3)))"""


def _cell(source: str, **nbgrader) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell(source)
    if nbgrader:
        cell.metadata.nbgrader = {"schema_version": 3, "locked": False, "points": 0, **nbgrader}
    return cell


def notebook(
    solution: str, *added: str, task: str = "binlogreg_loss_grad"
) -> nbformat.NotebookNode:
    """Lab 0's layout: a setup cell, ``task``'s solution cell and test cell, then ``added``
    cells (as a student adds them)."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        _cell(SETUP),
        _cell(solution, grade=False, solution=True, grade_id=f"{task}_code"),
        _cell(
            TEST.replace("binlogreg_loss_grad", task),
            grade=True,
            solution=False,
            grade_id=task,
            points=3,
        ),
        *map(_cell, added),
    ]
    return nb


def problems(solution: str, *added: str, task: str = "binlogreg_loss_grad") -> list[str]:
    return violations(notebook(solution, *added, task=task), task, lab_rules("lab0"))


def test_an_honest_solution_and_its_own_autograd_check_pass():
    assert problems(HONEST) == []
    assert problems(HONEST, GRADIENT_CHECK) == []  # a cell that checks it is not its code


EVASIONS = {
    "plain": (
        "import torch\n"
        + HONEST.replace(
            "return loss,", "g = torch.autograd.grad(torch.tensor(0.0), [])\n    return loss,"
        ),
        "torch.autograd.grad",
    ),
    "alias": (
        "import torch.autograd as ag\n" + HONEST.replace("np.mean(p - Y_)", "ag.grad"),
        "torch.autograd.grad",
    ),
    "from-import": (
        "from torch.autograd import grad as g\n" + HONEST.replace("np.mean(p - Y_)", "g"),
        "torch.autograd.grad",
    ),
    "importlib": (
        "import importlib\n"
        + HONEST.replace("np.mean(p - Y_)", 'importlib.import_module("torch.autograd").grad'),
        "torch.autograd",
    ),
    "__import__": (
        HONEST.replace("np.mean(p - Y_)", '__import__("torch").autograd.grad'),
        "torch.autograd.grad",
    ),
    "getattr string": (
        "import torch\n"
        + HONEST.replace("np.mean(p - Y_)", 'getattr(getattr(torch, "autograd"), "grad")'),
        "torch.autograd.grad",
    ),
    "__getattribute__": (
        "import torch\n"
        + HONEST.replace("np.mean(p - Y_)", 'torch.__getattribute__("autograd").grad'),
        "torch.autograd.grad",
    ),
    "__getattribute__ computed": (
        HONEST.replace("return loss,", 's.__getattribute__("back" + "ward")()\n    return loss,'),
        "__getattribute__ of a computed name",
    ),
    "getattr computed": (
        "import torch\n" + HONEST.replace("np.mean(p - Y_)", 'getattr(torch, "auto" + "grad")'),
        "getattr with a computed",
    ),
    "assigned alias": (
        "import torch\nt = torch\nag = t.autograd\n" + HONEST.replace("np.mean(p - Y_)", "ag.grad"),
        "torch.autograd.grad",
    ),
    "sys.modules": (
        "import sys\n" + HONEST.replace("np.mean(p - Y_)", 'sys.modules["torch.autograd"].grad'),
        "torch.autograd.grad",
    ),
    "exec of a built string": (
        HONEST.replace("return loss,", 'exec("import torch." + "autograd")\n    return loss,'),
        "exec of a computed string",
    ),
    "exec of a literal": (
        HONEST.replace(
            "return loss,", 'exec("import torch.autograd as ag; ag.grad")\n    return loss,'
        ),
        "torch.autograd.grad",
    ),
    "eval of a built string": (
        HONEST.replace("np.mean(p - Y_)", 'eval("n" + "p").mean(p - Y_)'),
        "eval of a computed string",
    ),
    "backward": (
        "import torch\n"
        + HONEST.replace("return loss,", "torch.tensor(1.0).backward()\n    return loss,"),
        ".backward",
    ),
    "getattr backward": (
        HONEST.replace("return loss,", 'getattr(s, "backward")()\n    return loss,'),
        ".backward",
    ),
    "forward-mode AD": (
        "import torch.autograd.forward_ad as fwAD\n"
        + HONEST.replace("return loss,", "fwAD.make_dual\n    return loss,"),
        "torch.autograd.forward_ad",
    ),
    "torch.func": (
        "from torch.func import jacrev\n" + HONEST.replace("np.mean(p - Y_)", "jacrev"),
        "torch.func.jacrev",
    ),
    "jvp": (
        "import torch\n" + HONEST.replace("np.mean(p - Y_)", "torch.autograd.functional.jvp"),
        "torch.autograd.functional.jvp",
    ),
    "course oracle": (
        "from dlcourse.tasks.lab0 import _binlogreg_reference\n"
        "binlogreg_loss_grad = _binlogreg_reference",
        "dlcourse.tasks.lab0",
    ),
    "numerical_gradient": (
        HONEST.replace("np.mean(p - Y_)", "numerical_gradient"),
        "dlcourse.check.numerical_gradient",
    ),
    "numerical_gradient from its module": (  # told as a numerical gradient, not as course code
        "from dlcourse.check.oracles import numerical_gradient as ng\n"
        + HONEST.replace("np.mean(p - Y_)", "ng"),
        "oracles.numerical_gradient: derive the gradient by hand; a numerical gradient",
    ),
    "thread": (
        "import threading, torch\n"
        + HONEST.replace(
            "return loss,",
            "t = threading.Thread(target=lambda: torch.autograd.grad)\n"
            "    t.start(); t.join()\n    return loss,",
        ),
        "torch.autograd.grad",
    ),
}


@pytest.mark.parametrize("evasion", list(EVASIONS))
def test_each_way_to_autograd_is_caught_with_a_reason(evasion):
    solution, named = EVASIONS[evasion]
    lines = problems(solution)
    assert lines and any(named in line for line in lines), lines
    assert all(line.startswith("binlogreg_loss_grad uses ") for line in lines)


def test_a_helper_in_another_cell_is_the_task_s_code():
    helper = (
        "import torch\n\ndef _grads(loss, params):\n" "    return torch.autograd.grad(loss, params)"
    )
    solution = HONEST.replace("np.mean(p - Y_)", "_grads(loss, [w])")
    [line] = problems(solution, helper)
    assert line.startswith(
        "binlogreg_loss_grad uses torch.autograd.grad (in _grads, cell 4): "
        "derive the gradient by hand; automatic differentiation"
    )


def test_a_rebinding_in_an_added_cell_is_the_task_s_code():
    rebind = "from torch.func import grad\nbinlogreg_loss_grad = grad"
    assert any("torch.func.grad" in line for line in problems(HONEST, rebind))


def test_a_thread_started_at_top_level_is_every_task_s_code():
    worker = (
        "import threading, queue, torch\njobs = queue.Queue()\n"
        "def _work():\n    while True:\n        torch.autograd.grad(*jobs.get())\n"
        "threading.Thread(target=_work, daemon=True).start()"
    )
    assert any("torch.autograd.grad (in _work" in line for line in problems(HONEST, worker))


def test_monkeypatching_a_library_is_every_task_s_code():
    patch = "import numpy, torch\nnumpy.logaddexp = lambda a, b: torch.autograd.grad(a, b)"
    assert any("torch.autograd.grad" in line for line in problems(HONEST, patch))


def test_library_implementations_of_metrics_are_refused():
    solution = (
        "from sklearn import metrics as m\n"
        "def eval_AP(labels):\n"
        "    return m.average_precision_score(labels, range(len(labels)))"
    )
    [line] = problems(solution, task="eval_AP")
    assert line.startswith(
        "eval_AP uses sklearn.metrics.average_precision_score: that is a "
        "library's or the course's implementation of the metric"
    )


def test_a_module_the_grader_does_not_have_is_refused():
    solution = "import my_own_helpers\n" + HONEST.replace("np.mean(p - Y_)", "my_own_helpers.g")
    assert any("my_own_helpers" in line and "can't tell" in line for line in problems(solution))


def test_a_lab_folder_can_declare_its_own_rules(tmp_path):
    (tmp_path / integrity.RULES_FILE).write_text(
        '{"square": ["AUTODIFF", {"why": "multiply", "uses": ["numpy.square"]}]}'
    )
    rules = lab_rules("toy", tmp_path)
    assert rules["square"][0] is integrity.AUTODIFF and rules["square"][1].uses == ("numpy.square",)
    assert lab_rules("toy") == {}


# ----------------------------------------------------------------------------- the solutions


def _tasks(nb: nbformat.NotebookNode) -> list[str]:
    meta = [c.metadata.get("nbgrader", {}) for c in nb.cells]
    return [m["grade_id"] for m in meta if m.get("grade") and not m.get("solution")]


@pytest.mark.parametrize("lab", LABS)
def test_every_solution_keeps_its_own_rules(lab):
    nb = nbformat.read(SOLUTIONS / lab / f"{lab}.ipynb", as_version=4)
    rules = lab_rules(lab)
    assert set(rules) <= set(_tasks(nb)), "a rule names a task the lab does not have"
    for task in _tasks(nb):
        assert violations(nb, task, rules) == [], task


# ----------------------------------------------------------------------------- the kernel-side hint


def _forbidden_expressions(module) -> dict[str, list[ast.expr]]:
    """Function name -> the expressions passed as ``forbidden=`` in it, with local
    ``forbidden = ...`` and module-level constants substituted by the evaluation below."""
    tree = ast.parse(inspect.getsource(module))
    found = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            exprs = [
                k.value
                for call in ast.walk(node)
                if isinstance(call, ast.Call)
                for k in call.keywords
                if k.arg == "forbidden"
            ]
            exprs += [
                a.value
                for a in ast.walk(node)
                if isinstance(a, ast.Assign)
                and any(isinstance(t, ast.Name) and t.id == "forbidden" for t in a.targets)
            ]
            found[node.name] = exprs
    return found


def _callers(module) -> dict[str, set[str]]:
    """Function name -> the module's check functions that call it, directly or not."""
    tree = ast.parse(inspect.getsource(module))
    calls = {
        n.name: {c.id for c in ast.walk(n) if isinstance(c, ast.Name)}
        for n in tree.body
        if isinstance(n, ast.FunctionDef)
    }
    checks = {}
    for name in calls:
        seen, todo = set(), [name]
        while todo:
            current = todo.pop()
            if current in seen:
                continue
            seen.add(current)
            todo += [c for c, used in calls.items() if current in used]
        checks[name] = {c for c in seen if c.startswith("check_")}
    return checks


def _objects(expr: ast.expr, namespace: dict) -> list:
    """The objects an expression of a ``forbidden=`` names (whatever can be evaluated)."""
    try:
        value = eval(compile(ast.Expression(expr), "<forbidden>", "eval"), namespace)
    except Exception:  # names local to the check: take the parts that evaluate
        parts = (
            expr.elts
            if isinstance(expr, (ast.Tuple, ast.List))
            else [expr.left, expr.right]
            if isinstance(expr, ast.BinOp)
            else []
        )
        return [o for part in parts for o in _objects(part, namespace)]
    return list(value) if isinstance(value, (tuple, list)) else [value]


def _covered(obj, rules: tuple) -> bool:
    if isinstance(obj, str) or obj is None:  # a reference's name: autograder.reference.<lab>
        return True
    name = f"{getattr(obj, '__module__', '')}.{getattr(obj, '__qualname__', '')}"
    return any(
        integrity._matches(name, rule) or getattr(obj, "__name__", None) in rule.attributes
        for rule in rules
    )


@pytest.mark.parametrize("lab", LABS)
def test_the_rules_cover_everything_the_checks_forbid_in_the_kernel(lab):
    """What ``call_student(..., forbidden=...)`` watches in a student's own kernel (the early
    hint) is also a rule the grader checks on the source: no rule is lost."""
    module = importlib.import_module(f"dlcourse.tasks.{lab}")
    rules = lab_rules(lab)
    callers = _callers(module)
    for function, exprs in _forbidden_expressions(module).items():
        for check in callers.get(function, ()):
            task = next(t for t in module.TASKS if t.lower() == check[len("check_") :].lower())
            for expr in exprs:
                for obj in _objects(expr, vars(module)):
                    assert _covered(obj, rules.get(task, ()) + integrity.EVERY_TASK), (
                        lab,
                        task,
                        obj,
                    )


def test_a_task_imported_under_its_own_name_is_refused():
    solution = "from sklearn.metrics import average_precision_score as eval_AP"
    [line] = problems(solution, task="eval_AP")
    assert line.startswith("eval_AP uses sklearn.metrics.average_precision_score: ")


def test_a_scratch_cell_importing_a_package_the_course_lacks_costs_nothing():
    assert problems(HONEST, "import seaborn_not_installed as sns\nsns.set()") == []


def test_graded_code_that_imports_a_package_the_course_lacks_is_refused():
    solution = "import seaborn_not_installed\n" + HONEST.replace(
        "np.mean(p - Y_)", "seaborn_not_installed.mean(p - Y_)"
    )
    (problem,) = problems(solution)
    assert "seaborn_not_installed" in problem and "grading environment" in problem


@pytest.mark.parametrize(
    "trick",
    [
        "import sys\nsys.path.insert(0, '.')\nimport my_helpers",
        "import importlib.util as u\nspec = u.spec_from_file_location('m', 'm.py')",
        "import runpy\nrunpy.run_path('m.py')",
    ],
)
def test_putting_a_module_the_notebook_wrote_on_the_path_counts_for_every_task(trick):
    writes = "open('my_helpers.py', 'w').write('import torch')\n"
    assert problems(HONEST, writes + trick) != []


@pytest.mark.parametrize(
    "task, solution, used",
    [
        (
            "eval_AP",
            "from dlcourse.embeddings import average_precision\n"
            "def eval_AP(labels):\n"
            "    return average_precision(-np.arange(len(labels)), labels)[0]",
            "dlcourse.embeddings.average_precision",
        ),
        (
            "eval_perf_multi",
            "from dlcourse import convnets\n"
            "def eval_perf_multi(Y, Y_):\n    return convnets.evaluate(None, Y, Y_)",
            "dlcourse.convnets.evaluate",
        ),
    ],
)
def test_given_code_that_computes_a_graded_metric_is_refused(task, solution, used):
    [line] = problems(solution, task=task)
    assert line.startswith(f"{task} uses {used}")
