"""What a graded function may use, checked by the grader on the submitted source.

The rules of a task (no course references, no library implementation of the task, no automatic
differentiation inside a hand-derived gradient, ...) are checked here, in the grader, on the
notebook's source: nothing the student's kernel does or reports about itself decides them.

The code of a task is found by name, as Python finds it at run time:

- roots: the statements of the task's solution cell (grade id ``<task>_code``); every top-level
  statement, in any cell the student can edit or add, that binds a name the task's test cell
  takes from the notebook (the graded function itself, or a rebinding of it, an import
  included); and top-level statements that, themselves or through what they call, reach into
  shared state (assign to a module's attributes, ``setattr`` on one, ``globals()``,
  ``sys.modules``, ``get_ipython()``) or start code that runs later (threads, processes, timers,
  hooks, a module the notebook wrote);
- then, transitively, every top-level definition, assignment or import (in any editable cell)
  of a global name that code reads.

Other cells, such as one that checks a gradient with autograd, are not the task's code; what an
assignment replaces is not used by it (``dlcourse.check.compare = ...`` uses nothing of the
course's: the grader's checks don't run in the kernel).

In that code every name is resolved through imports and simple assignments, in Python's scopes:
``import torch.autograd as ag``, ``from torch import autograd``, ``ag = torch.autograd``,
``importlib.import_module("torch.func")``, ``__import__``, ``getattr(torch, "func")``,
``sys.modules["..."]``, ``module.__dict__["..."]``, and through where the object is defined
(``scipy.special._logsumexp.softmax`` is ``scipy.special.softmax``). ``exec``/``eval``/
``compile`` of a literal string are read like the cell; of anything else, like a name the grader
can't work out (``getattr(torch, name)``), they are refused where they could reach something the
task forbids; a module the grader's environment lacks (the notebook wrote it) always is. Files
the kernel opens are the OS sandbox's concern, not this module's.

A lab's rules are declared once, in ``RULES`` (lab -> task -> rules); a course can give a lab
of its own its rules in ``<source>/<lab>/integrity.json`` (see ``lab_rules``).
"""

from __future__ import annotations

import ast
import builtins
import importlib.util
import inspect
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

from nbformat.notebooknode import NotebookNode
from nbformat.v4 import new_output

RULES_FILE = "integrity.json"
"""A lab's own rules, beside its notebook in the course's source folder."""


@dataclass(frozen=True)
class Rule:
    """What a task's code may not use, and why (the sentence the student reads).

    ``uses``: dotted names, each covering what is under it ("torch.autograd" covers
    ``torch.autograd.functional.jacobian``). ``attributes``: attribute names refused on any
    object (``loss.backward()``, ``w.grad``), also as ``getattr`` strings and keyword arguments
    (``requires_grad=True``).
    """

    why: str
    uses: tuple[str, ...] = ()
    attributes: tuple[str, ...] = ()


AUTODIFF = Rule(
    "derive the gradient by hand; automatic differentiation (reverse or forward mode) is not "
    "allowed in this task",
    uses=(
        "torch.autograd",
        "torch.func",
        "torch._functorch",
        "functorch",
        "torch.Tensor.backward",
        "torch._C",
        "torch.ops",
        "torch._ops",
        "jax",
        "autograd",
        "sympy",
    ),
    attributes=(
        "backward",
        "grad",
        "grad_fn",
        "requires_grad",
        "requires_grad_",
        "retain_grad",
        "register_hook",
    ),
)
NUMERIC = Rule(
    "derive the gradient by hand; a numerical gradient is not allowed in this task",
    uses=(
        "dlcourse.check.numerical_gradient",
        "dlcourse.check.oracles.numerical_gradient",
        "scipy.optimize.approx_fprime",
        "scipy.optimize.check_grad",
        "scipy.differentiate",
        "numdifftools",
    ),
)
COURSE = Rule(
    "that is the course's own code (its checks, oracles and references), not yours: write your own",
    uses=("dlcourse.tasks", "dlcourse.check", "dlcourse.reference", "autograder"),
)
UNREADABLE = Rule(
    "it runs code the grader can't read: write the code itself in the notebook",
    uses=(
        "pickle",
        "_pickle",
        "marshal",
        "dill",
        "cloudpickle",
        "runpy",
        "importlib.util",
        "importlib.machinery",
        "importlib._bootstrap",
        "zipimport",
        "types.FunctionType",
        "types.CodeType",
        "types.LambdaType",
        "code",
        "codeop",
    ),
)
EVERY_TASK = (COURSE, UNREADABLE)
"""Rules of every task of every lab, checked after the task's own."""
SHARED = {"AUTODIFF": AUTODIFF, "NUMERIC": NUMERIC}
"""Rules a lab's ``integrity.json`` can name instead of spelling them out."""


def _reference(what: str, *names: str) -> Rule:
    return Rule(f"that is {what}: the task is to write it yourself", uses=names)


_METRICS = _reference(
    "a library's or the course's implementation of the metric",
    "sklearn.metrics",
    "dlcourse.embeddings.average_precision",
    "dlcourse.embeddings.retrieval_average_precision",
    "dlcourse.embeddings.mean_average_precision",
    "dlcourse.convnets.evaluate",
)
_GAUSSIAN = _reference("the course's mixture sampler", "dlcourse.data.gaussian.sample_gmm_2d")
_SOFTMAX = _reference(
    "a library's softmax",
    "scipy.special.softmax",
    "scipy.special.log_softmax",
    "torch.softmax",
    "torch.nn.functional.softmax",
    "torch.special.softmax",
)

RULES: dict[str, dict[str, tuple[Rule, ...]]] = {
    "lab0": {
        "random2dgaussian": (_GAUSSIAN,),
        "sample_gauss_2d": (_GAUSSIAN,),
        "binlogreg_loss_grad": (AUTODIFF, NUMERIC),
        "eval_perf_binary": (_METRICS,),
        "eval_AP": (_METRICS,),
        "stable_softmax": (_SOFTMAX,),
        "logreg_loss_grad": (AUTODIFF, NUMERIC),
        "eval_perf_multi": (_METRICS,),
    },
    "lab1": {
        "fcann2_loss_grad": (AUTODIFF, NUMERIC),
        "linreg_grads": (AUTODIFF, NUMERIC),
    },
    "lab2": {
        "fc": (AUTODIFF,),
        "relu": (AUTODIFF,),
        "softmax_cross_entropy_with_logits": (
            AUTODIFF,
            _reference(
                "a library's softmax or cross-entropy",
                "torch.nn.functional.cross_entropy",
                "torch.nn.functional.log_softmax",
                "torch.nn.functional.softmax",
                "scipy.special.softmax",
                "scipy.special.log_softmax",
            ),
        ),
        "l2_regularizer": (AUTODIFF,),
        "regularized_loss": (AUTODIFF,),
        "conv_backward": (
            AUTODIFF,
            _reference(
                "the given convolution's backward pass",
                "dlcourse.layers.Convolution",
                "torch.nn.grad",
            ),
        ),
        "multiclass_hinge_loss": (
            _reference(
                "the library's hinge loss",
                "torch.nn.functional.multi_margin_loss",
                "torch.nn.MultiMarginLoss",
            ),
        ),
        "evaluate": (_METRICS,),
    },
    "lab3": {
        "rnn_backward": (AUTODIFF, NUMERIC),
        "clip_gradients": (
            _reference(
                "the library's clipping",
                "torch.nn.utils.clip_grad_norm_",
                "torch.nn.utils.clip_grad_norm",
                "torch.nn.utils.clip_grad",
            ),
        ),
        "train_epoch": (
            _reference(
                "the given training epoch of Lab 4", "dlcourse.embeddings.train_embedding_epoch"
            ),
        ),
        "evaluate": (_reference("a library's implementation of the metrics", "sklearn.metrics"),),
    },
    "lab4": {
        "triplet_loss": (
            _reference(
                "the library's triplet loss",
                "torch.nn.functional.triplet_margin_loss",
                "torch.nn.functional.triplet_margin_with_distance_loss",
                "torch.nn.TripletMarginLoss",
                "torch.nn.TripletMarginWithDistanceLoss",
            ),
        ),
    },
}
"""Lab -> task -> the task's own rules (every task also has ``EVERY_TASK``'s). Taken from the
objects the checks in ``dlcourse.tasks`` forbid their calls to (tests/test_integrity.py proves
that each is covered); the course's references are ``COURSE``'s ``autograder``."""


def lab_rules(lab: str, folder: Path | None = None) -> dict[str, tuple[Rule, ...]]:
    """Task -> rules of ``lab``: ``RULES[lab]`` and, where the lab's source ``folder`` holds an
    ``integrity.json``, its rules too: ``{"task": ["AUTODIFF", {"why": "...", "uses": [...],
    "attributes": [...]}]}`` (a string names one of ``SHARED``)."""
    table = {task: list(rules) for task, rules in RULES.get(lab, {}).items()}
    path = folder / RULES_FILE if folder is not None else None
    if path is not None and path.is_file():
        for task, entries in json.loads(path.read_text()).items():
            table.setdefault(task, []).extend(
                SHARED[e]
                if isinstance(e, str)
                else Rule(e["why"], tuple(e.get("uses", ())), tuple(e.get("attributes", ())))
                for e in entries
            )
    return {task: tuple(rules) for task, rules in table.items()}


# ----------------------------------------------------------------------------- scopes and names

_SCOPES = (
    ast.FunctionDef,
    ast.AsyncFunctionDef,
    ast.Lambda,
    ast.ClassDef,
    ast.ListComp,
    ast.SetComp,
    ast.DictComp,
    ast.GeneratorExp,
)
_NAMESPACES = (
    "builtins.globals()",
    "builtins.vars()",
    "sys.modules",
    "__main__",
    "builtins",
    "get_ipython",
)
"""What reaches any name at all: a computed key into one of them can't be read."""
_LATER = (
    "threading",
    "_thread",
    "multiprocessing",
    "concurrent.futures",
    "asyncio",
    "sched",
    "signal",
    "atexit",
    "sys.settrace",
    "sys.setprofile",
    "sys.addaudithook",
    "sys.excepthook",
    "builtins.globals",
    "builtins.__builtins__",
    "sys.modules",
    "get_ipython",
)
"""Uses that make a top-level statement reach shared state or run code later."""
_IMPORT_PATH = (
    "sys.path",
    "sys.meta_path",
    "sys.path_hooks",
    "sys.path_importer_cache",
    "importlib.util.spec_from_file_location",
    "importlib.util.module_from_spec",
    "importlib.machinery",
    "importlib.abc",
    "runpy",
    "zipimport",
    "site",
)
"""What could run a module the notebook wrote (the kernel's path has no folder it can write):
refused for every task, the grader can't read that code."""
_MAGICS_WITH_CODE = {"time", "timeit", "prun", "capture"}
_HARMLESS_MAGICS = {"matplotlib", "config", "precision", "autoreload"}


def _bound_here(node: ast.AST) -> set[str]:
    """Names bound in ``node``'s own scope (not those it declares global); ``node`` is a module,
    a function, a lambda, a class or a comprehension."""
    bound, declared = set(), set()
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
        args = node.args
        for a in args.posonlyargs + args.args + args.kwonlyargs + [args.vararg, args.kwarg]:
            if a is not None:
                bound.add(a.arg)
    for child in _own_nodes(node):
        if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(child.name)
        elif isinstance(child, ast.Name) and isinstance(child.ctx, (ast.Store, ast.Del)):
            bound.add(child.id)
        elif isinstance(child, (ast.Import, ast.ImportFrom)):
            bound |= {a.asname or a.name.split(".")[0] for a in child.names if a.name != "*"}
        elif isinstance(child, ast.Global):
            declared |= set(child.names)
        elif isinstance(child, (ast.ExceptHandler, ast.MatchAs, ast.MatchStar)) and child.name:
            bound.add(child.name)
        elif isinstance(child, ast.MatchMapping) and child.rest:
            bound.add(child.rest)
    return bound - declared


@dataclass
class _Scope:
    """One scope: its bound names, and what those of them that alias a module or an object
    imported from one stand for (dotted names; a set: several bindings, several meanings)."""

    node: ast.AST | None
    parent: _Scope | None
    bound: set[str] = field(default_factory=set)
    aliases: dict[str, set[str]] = field(default_factory=dict)
    star: list[str] = field(default_factory=list)  # modules star-imported here

    @property
    def is_class(self) -> bool:
        return isinstance(self.node, ast.ClassDef)

    def lookup(self, name: str) -> tuple[_Scope | None, set[str]]:
        """(the scope that binds ``name``, what it aliases there); (None, ...) for a builtin or
        an unknown name (with the star-imported candidates)."""
        scope, first = self, True
        while scope is not None:
            if (first or not scope.is_class) and name in scope.bound:
                return scope, scope.aliases.get(name, set())
            first, scope = False, scope.parent
        candidates = {f"{m}.{name}" for m in self._module().star}  # from m import *
        if name == "__builtins__":
            candidates.add("builtins")
        elif hasattr(builtins, name):
            candidates.add(f"builtins.{name}")
        return None, candidates

    def _module(self) -> _Scope:
        scope = self
        while scope.parent is not None:
            scope = scope.parent
        return scope


def _const_str(node: ast.AST | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _import_aliases(node: ast.Import | ast.ImportFrom) -> Iterator[tuple[str, str]]:
    """(bound name, the dotted name it stands for) for each name an import binds."""
    if isinstance(node, ast.Import):
        for a in node.names:
            yield (a.asname, a.name) if a.asname else (a.name.split(".")[0],) * 2
    elif node.level == 0 and node.module:
        for a in node.names:
            if a.name != "*":
                yield a.asname or a.name, f"{node.module}.{a.name}"


# ----------------------------------------------------------------------------- what a unit uses


@dataclass
class Findings:
    """What one piece of code uses: dotted names, attribute names, unreadable constructs
    ((what, the dotted names it reaches into or () for anything)), global names it reads, and
    whether it reaches shared state or starts code that runs later."""

    uses: set[str] = field(default_factory=set)
    attributes: set[str] = field(default_factory=set)
    unreadable: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)
    names: set[str] = field(default_factory=set)
    effect: bool = False


class _Reader:
    """Walks code in its scopes, resolving names, and collects ``Findings``."""

    def __init__(self, findings: Findings) -> None:
        self.found = findings

    # -- scopes
    def scope_of(self, node: ast.AST, parent: _Scope) -> _Scope:
        scope = _Scope(node, parent, _bound_here(node))
        self._alias(scope, node)
        return scope

    def _alias(self, scope: _Scope, node: ast.AST) -> None:
        """Fill ``scope.aliases`` from the imports and simple assignments of its own code."""
        statements = list(_own_nodes(node))
        for n in statements:
            if isinstance(n, (ast.Import, ast.ImportFrom)):
                for name, target in _import_aliases(n):
                    scope.aliases.setdefault(name, set()).add(target)
                if (
                    isinstance(n, ast.ImportFrom)
                    and any(a.name == "*" for a in n.names)
                    and n.module
                ):
                    scope.star.append(n.module)
        for _ in range(3):  # a = torch; b = a.autograd: a few rounds reach a fixed point
            for n in statements:
                for target, value in _assignments(n):
                    meaning = self.resolve(value, scope)
                    if meaning:
                        scope.aliases.setdefault(target, set()).update(meaning)

    # -- names
    def resolve(self, node: ast.AST, scope: _Scope) -> set[str]:
        """The dotted names ``node`` can stand for (empty: not a module or an object of one)."""
        if isinstance(node, ast.Name):
            return self._name(node.id, scope)
        if isinstance(node, ast.Attribute):
            return {f"{q}.{node.attr}" for q in self.resolve(node.value, scope)}
        if isinstance(node, ast.Subscript):
            key = _const_str(node.slice)
            if key is None:
                return set()
            out = set()
            for q in self.resolve(node.value, scope):
                if q == "sys.modules":
                    out.add(key)
                elif q.endswith(".__dict__"):
                    out.add(f"{q[:-len('.__dict__')]}.{key}")
                elif q in ("builtins.globals()", "builtins.vars()"):
                    out.add(f"__main__.{key}")
            return out
        if isinstance(node, ast.Call):
            return self._call_result(node, scope)
        return set()

    def _name(self, name: str, scope: _Scope) -> set[str]:
        owner, meaning = scope.lookup(name)
        if owner is not None and owner.parent is None:
            return meaning | {f"__main__.{name}"}  # a notebook global: also followed by name
        if owner is None and name == "get_ipython":
            return {"get_ipython"}  # IPython's, in the kernel's builtins
        return meaning

    def _call_result(self, node: ast.Call, scope: _Scope) -> set[str]:
        funcs = self.resolve(node.func, scope)
        arg = _const_str(node.args[0]) if node.args else None
        if "get_ipython" in funcs:
            return {"get_ipython"}
        if _dunder_getattr(node) and arg:  # torch.__getattribute__("autograd")
            return {f"{q}.{arg}" for q in self.resolve(node.func.value, scope)}
        if funcs & {"importlib.import_module", "builtins.__import__"} and arg:
            return {arg, arg.split(".")[0]}
        if "builtins.getattr" in funcs and len(node.args) >= 2:
            attr = _const_str(node.args[1])
            return {f"{q}.{attr}" for q in self.resolve(node.args[0], scope)} if attr else set()
        if "builtins.vars" in funcs:
            return (
                {f"{q}.__dict__" for q in self.resolve(node.args[0], scope)}
                if node.args
                else {"builtins.vars()"}
            )
        if "builtins.globals" in funcs:
            return {"builtins.globals()"}
        return set()

    # -- the walk
    def read(self, node: ast.AST, scope: _Scope) -> None:
        """Collect the findings of ``node`` (a statement or expression) in ``scope``."""
        if isinstance(node, _SCOPES):
            self._enter(node, scope)
            return
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            self._import(node)
            return
        if isinstance(node, (ast.Attribute, ast.Subscript)) and isinstance(
            node.ctx, (ast.Store, ast.Del)
        ):
            self._target(node, scope)
            return
        if isinstance(node, (ast.Name, ast.Attribute, ast.Subscript)) and isinstance(
            node.ctx, ast.Load
        ):
            self._use(node, scope)
        if isinstance(node, ast.Attribute):
            self.found.attributes.add(node.attr)
        if isinstance(node, ast.Call):
            self._use(node, scope)  # importlib.import_module("..."), getattr(m, "...")
            self._call(node, scope)
            setter = self.resolve(node.func, scope) & {"builtins.setattr", "builtins.delattr"}
            if setter and node.args:
                self._target(node.args[0], scope)
                for child in [node.func, *node.args[1:], *node.keywords]:
                    self.read(child, scope)
                return
        if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Delete)):
            self._assignment(node, scope)
        for child in ast.iter_child_nodes(node):
            self.read(child, scope)

    def _import(self, node: ast.Import | ast.ImportFrom) -> None:
        """An import uses nothing by itself (what it binds is followed where it is used). A
        module the grader's environment lacks can't be read: refused where a task's code
        reaches it. Elsewhere (``import seaborn`` in a scratch cell) it fails in the kernel as
        it would here: the kernel finds modules only where the grader does (no working directory
        on its path, ``PYTHONSAFEPATH``), and the ways to put a module the notebook wrote on the
        path (``sys.path``, import machinery) count for every task (``_LATER``)."""
        modules = (
            [a.name for a in node.names]
            if isinstance(node, ast.Import)
            else [node.module]
            if node.module and node.level == 0
            else []
        )
        if isinstance(node, ast.ImportFrom) and node.level:
            modules.append(".")
        for module in modules:
            if module == "." or not _installed(module.split(".")[0]):
                self.found.unreadable.append(
                    (
                        f"import of {module}, a module the grading environment does not have; "
                        "graded code may use only the course's environment",
                        (),
                    )
                )

    def _target(self, node: ast.AST, scope: _Scope) -> None:
        """What an assignment (or ``setattr``) changes is not used by it: replacing
        ``dlcourse.check.compare`` uses nothing of the course's. Subscripts and calls on the way
        are read; attribute names count (``w.requires_grad = True``)."""
        while isinstance(node, (ast.Attribute, ast.Subscript)):
            if isinstance(node, ast.Attribute):
                self.found.attributes.add(node.attr)
            else:
                self.read(node.slice, scope)
            node = node.value
        if not isinstance(node, ast.Name):
            self.read(node, scope)

    def _enter(self, node: ast.AST, scope: _Scope) -> None:
        outer = list(getattr(node, "decorator_list", []))
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            outer += [d for d in node.args.defaults + node.args.kw_defaults if d is not None]
        if isinstance(node, ast.ClassDef):
            outer += node.bases + [k.value for k in node.keywords]
        for child in outer:
            self.read(child, scope)
        inner = self.scope_of(node, scope)
        body = (
            node.body
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
            else [node.body]
            if isinstance(node, ast.Lambda)
            else [
                *node.generators,
                *[getattr(node, k) for k in ("elt", "key", "value") if hasattr(node, k)],
            ]
        )
        for child in body:
            self.read(child, inner)

    def _use(self, node: ast.AST, scope: _Scope) -> None:
        if isinstance(node, ast.Subscript) and _const_str(node.slice) is None:
            self._computed_key(node.value, scope)
        for q in self.resolve(node, scope):
            if q.startswith("__main__."):
                self.found.names.add(q.split(".")[1])
            else:
                self.found.uses.add(q)
            if any(_under(q, p) for p in _LATER):
                self.found.effect = True
            if any(_under(q, p) for p in _IMPORT_PATH):
                self.found.unreadable.append(
                    (f"{q}, which can run a module the notebook wrote", ())
                )
                self.found.effect = True

    def _computed_key(self, namespace: ast.AST, scope: _Scope) -> None:
        """``namespace[key]`` with a computed key: unreadable where it is a namespace."""
        bases = self.resolve(namespace, scope)
        inside = {
            q[: -len(".__dict__")] if q.endswith(".__dict__") else q
            for q in bases
            if q.endswith(".__dict__") or q in _NAMESPACES
        }
        if inside:
            self.found.unreadable.append(
                ("a name looked up with a computed key", tuple(sorted(inside)))
            )

    def _call(self, node: ast.Call, scope: _Scope) -> None:
        funcs = self.resolve(node.func, scope)
        args = node.args
        if (
            isinstance(node.func, ast.Attribute)
            and node.func.attr in ("get", "__getitem__", "pop", "setdefault")
            and (not args or _const_str(args[0]) is None)
        ):
            self._computed_key(node.func.value, scope)
        for keyword in node.keywords:
            if keyword.arg and not (
                isinstance(keyword.value, ast.Constant) and keyword.value.value in (False, None)
            ):
                self.found.attributes.add(keyword.arg)
        for code_runner in ("builtins.exec", "builtins.eval", "builtins.compile"):
            if code_runner in funcs:
                self._code(code_runner.split(".")[1], args[0] if args else None, scope)
        for importer in ("importlib.import_module", "builtins.__import__"):
            if importer in funcs and (not args or _const_str(args[0]) is None):
                self.found.unreadable.append((f"{importer.split('.')[-1]} of a computed name", ()))
        if _dunder_getattr(node):
            attr = _const_str(args[0]) if args else None
            if attr is None:
                target = tuple(sorted(self.resolve(node.func.value, scope))) or ("?",)
                self.found.unreadable.append(("__getattribute__ of a computed name", target))
            else:
                self.found.attributes.add(attr)
        names = (
            "builtins.getattr",
            "builtins.setattr",
            "builtins.hasattr",
            "builtins.delattr",
            "operator.attrgetter",
            "operator.methodcaller",
        )
        for getter in names:
            if getter in funcs:
                self._attribute_call(getter, node, scope)
        if any(
            f.endswith((".run_cell", ".run_cell_magic", ".run_line_magic", ".ex", ".ev"))
            and f.startswith("get_ipython")
            for f in funcs
        ):
            self._magic(node, funcs, scope)

    def _attribute_call(self, getter: str, node: ast.Call, scope: _Scope) -> None:
        short = getter.split(".")[1]
        on_object = short not in ("attrgetter", "methodcaller")
        position = 1 if on_object else 0
        attr = _const_str(node.args[position]) if len(node.args) > position else None
        if (
            short in ("setattr", "delattr")
            and node.args
            and any(not q.startswith("__main__.") for q in self.resolve(node.args[0], scope))
        ):
            self.found.effect = True  # setattr(np, ...): not setattr(self, ...)
        if attr is not None:
            self.found.attributes.add(attr)
            return
        target = tuple(sorted(self.resolve(node.args[0], scope))) if on_object and node.args else ()
        self.found.unreadable.append((f"{short} with a computed attribute name", target or ("?",)))

    def _code(self, runner: str, source: ast.AST | None, scope: _Scope) -> None:
        text = _const_str(source)
        if text is None:
            self.found.unreadable.append((f"{runner} of a computed string", ()))
            return
        try:
            tree = ast.parse(text)
        except SyntaxError:
            return
        inner = self.scope_of(tree, scope)  # what it imports and assigns, as in a function
        for statement in tree.body:
            self.read(statement, inner)

    def _magic(self, node: ast.Call, funcs: set[str], scope: _Scope) -> None:
        args = [_const_str(a) for a in node.args]
        method = next(f for f in funcs if f.startswith("get_ipython")).rsplit(".", 1)[1]
        if method == "run_line_magic" and args and args[0] in _HARMLESS_MAGICS:
            return
        if (
            method == "run_line_magic"
            and args[:1] == ["load_ext"]
            and len(args) > 1
            and args[1]
            and _installed(args[1].split(".")[0])
        ):
            return  # an extension the environment has, such as autoreload
        if method in ("run_line_magic", "run_cell_magic") and args and args[0] in _MAGICS_WITH_CODE:
            self._code("%" + args[0], node.args[-1] if node.args else None, scope)
            return
        label = f"%{args[0]}" if method.endswith("magic") and args and args[0] else method
        self.found.unreadable.append((f"{label} (IPython)", ()))

    def _assignment(self, node: ast.AST, scope: _Scope) -> None:
        """Assigning to a module's attribute (or through a namespace) changes shared state."""
        targets = node.targets if isinstance(node, (ast.Assign, ast.Delete)) else [node.target]
        for target in targets:
            for part in ast.walk(target):
                if isinstance(part, (ast.Attribute, ast.Subscript)):
                    base = self.resolve(part.value, scope)
                    if any(not q.startswith("__main__.") for q in base):
                        self.found.effect = True


def _dunder_getattr(node: ast.Call) -> bool:
    """``x.__getattribute__(name)`` or ``x.__getattr__(name)``: getattr by another name."""
    return isinstance(node.func, ast.Attribute) and node.func.attr in (
        "__getattribute__",
        "__getattr__",
    )


def _own_nodes(node: ast.AST) -> Iterator[ast.AST]:
    """Every node of ``node``'s own scope (nested functions, classes and lambdas left out)."""
    if isinstance(node, ast.Lambda):
        todo: list[ast.AST] = [node.body]
    elif isinstance(node, (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
        todo = list(ast.iter_child_nodes(node))
    else:
        todo = list(node.body)
    while todo:
        child = todo.pop()
        yield child
        if not isinstance(child, _SCOPES):
            todo += ast.iter_child_nodes(child)


def _assignments(node: ast.AST) -> Iterator[tuple[str, ast.AST]]:
    """(name, value) for ``name = value`` (also in tuples of equal length and ``:=``)."""
    pairs: list[tuple[ast.AST, ast.AST]] = []
    if isinstance(node, ast.Assign):
        pairs = [(t, node.value) for t in node.targets]
    elif isinstance(node, (ast.AnnAssign, ast.NamedExpr)) and node.value is not None:
        pairs = [(node.target, node.value)]
    while pairs:
        target, value = pairs.pop()
        if isinstance(target, ast.Name):
            yield target.id, value
        elif (
            isinstance(target, (ast.Tuple, ast.List))
            and isinstance(value, (ast.Tuple, ast.List))
            and len(target.elts) == len(value.elts)
        ):
            pairs += list(zip(target.elts, value.elts))


# ----------------------------------------------------------------------------- the notebook


@dataclass
class Unit:
    """One top-level statement of an editable cell: what it binds and what it uses."""

    cell: int  # 1-based, as the student counts cells
    label: str  # its name (a def or class) or 'cell N'
    binds: set[str]
    findings: Findings
    imports: bool = False  # one name an import binds: part of the code only where it is read


def _parse(source: str) -> ast.Module:
    """A cell's code; IPython's syntax (magics, ``!``) as the Python it runs. SyntaxError when
    it is neither."""
    try:
        return ast.parse(source)
    except SyntaxError:
        from IPython.core.inputtransformer2 import TransformerManager

        try:
            python = TransformerManager().transform_cell(source)
        except Exception as exc:  # IPython can't read it: the kernel can't run it either
            raise SyntaxError(str(exc)) from exc
        return ast.parse(python)


def _grade_id(cell: NotebookNode) -> str | None:
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def _is_test(cell: NotebookNode) -> bool:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return bool(meta.get("grade")) and not meta.get("solution")


class Notebook:
    """A notebook's editable code, parsed once: its units and the module scope they share."""

    def __init__(self, nb: NotebookNode) -> None:
        self.cells = nb.cells
        trees = {}
        for i, cell in enumerate(nb.cells):
            if cell.cell_type == "code" and not _is_test(cell):
                try:
                    trees[i] = _parse(cell.source)
                except SyntaxError:
                    continue  # it defines nothing: running it fails
        module = ast.Module(body=[s for tree in trees.values() for s in tree.body], type_ignores=[])
        bound = _bound_here(module)
        self.scope = _Scope(module, None, bound)
        reader = _Reader(Findings())
        reader._alias(self.scope, module)
        self.units = [u for i, tree in trees.items() for s in tree.body for u in self._units(i, s)]
        self._binders: dict[str, list[Unit]] = {}
        for unit in self.units:
            for name in unit.binds:
                self._binders.setdefault(name, []).append(unit)
        self._effect_units: list[Unit] | None = None

    def _units(self, index: int, statement: ast.stmt) -> list[Unit]:
        """The unit of a top-level statement; an import is one unit per name it binds, which
        uses what that name stands for (read by the test cell, it is the graded object)."""
        findings = Findings()
        _Reader(findings).read(statement, self.scope)
        label = f"cell {index + 1}"
        if isinstance(statement, (ast.Import, ast.ImportFrom)):
            return [
                Unit(index + 1, label, {name}, replace(findings, uses={target}), True)
                for name, target in _import_aliases(statement)
            ] or [Unit(index + 1, label, set(), findings, True)]
        binds = _bound_here(ast.Module(body=[statement], type_ignores=[]))
        for node in ast.walk(statement):  # functions that rebind globals bind them too
            if isinstance(node, ast.Global):
                binds |= set(node.names)
        if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            label = statement.name
        return [Unit(index + 1, label, binds, findings)]

    def solution_cell(self, task: str) -> int | None:
        """The 1-based number of ``task``'s solution cell, or None."""
        for i, cell in enumerate(self.cells):
            if _grade_id(cell) == f"{task}_code":
                return i + 1
        return None

    def test_names(self, task: str) -> set[str]:
        """Names ``task``'s test cell takes from the notebook (those it does not bind)."""
        for cell in self.cells:
            if _grade_id(cell) == task and _is_test(cell):
                try:
                    tree = _parse(cell.source)
                except SyntaxError:
                    return set()
                bound = _bound_here(tree)
                return {
                    n.id
                    for n in ast.walk(tree)
                    if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)
                } - bound
        return set()

    def code_of(self, task: str) -> list[Unit]:
        """The units that are ``task``'s code (see the module's docstring), roots first."""
        cell, names = self.solution_cell(task), self.test_names(task)
        roots = [u for u in self.units if (u.cell == cell and not u.imports) or u.binds & names]
        return self._closure(roots + [u for u in self._effects() if u not in roots])

    def _closure(self, roots: list[Unit]) -> list[Unit]:
        """``roots`` and, transitively, the units binding a global name one of them reads."""
        chosen, seen = list(roots), {id(u) for u in roots}
        for unit in chosen:  # grows while it is read
            for name in unit.findings.names:
                for other in self._binders.get(name, ()):
                    if id(other) not in seen:
                        seen.add(id(other))
                        chosen.append(other)
        return chosen

    def _effects(self) -> list[Unit]:
        """Top-level statements that, themselves or through what they call, reach shared state
        or start code that runs later: they are part of every task's code."""
        if self._effect_units is None:
            self._effect_units = [
                u
                for u in self.units
                if not u.label.isidentifier() and any(v.findings.effect for v in self._closure([u]))
            ]
        return self._effect_units


# ----------------------------------------------------------------------------- rules on code


def _under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


_CANONICAL: dict[str, str] = {}


def _canonical(name: str) -> str | None:
    """Where the object ``name`` is defined (``module.qualname``), found without importing or
    running anything: only through modules the grader has already imported (so only what was
    found is remembered: a module imported later may find more)."""
    if name not in _CANONICAL:
        found = _find(name)
        if found is None:
            return None
        _CANONICAL[name] = found
    return _CANONICAL[name]


def _find(name: str) -> str | None:
    parts = name.split(".")
    for i in range(len(parts), 0, -1):
        module = sys.modules.get(".".join(parts[:i]))
        if module is None:
            continue
        obj: Any = module
        try:
            for part in parts[i:]:
                obj = inspect.getattr_static(obj, part)
        except AttributeError:
            return None
        owner, qualname = getattr(obj, "__module__", None), getattr(obj, "__qualname__", None)
        if inspect.ismodule(obj):
            return obj.__name__
        if isinstance(owner, str) and isinstance(qualname, str):
            return f"{owner}.{qualname}"
        return None
    return None


@cache
def _installed(top: str) -> bool:
    """True where the grader's environment has module ``top`` (found, not imported)."""
    if top in sys.modules or top in sys.builtin_module_names:
        return True
    try:
        return importlib.util.find_spec(top) is not None
    except (ImportError, ValueError):
        return False


def _matches(name: str, rule: Rule) -> bool:
    names = {name, _canonical(name)} - {None}
    prefixes = set(rule.uses) | {c for c in map(_canonical, rule.uses) if c}
    return any(_under(n, p) for n in names for p in prefixes)


def _reaches(target: tuple[str, ...], rule: Rule) -> bool:
    """Whether a computed attribute of ``target`` (dotted names; '?' for any object) could be
    something ``rule`` forbids."""
    for q in target:
        if q == "?" or q.startswith("__main__."):  # any object: it could be a tensor
            if rule.attributes:
                return True
        elif q in _NAMESPACES or any(_under(p, q) for p in rule.uses):
            return True
    return False


_CANT_READ = (
    "the grader can't tell what that runs or reaches, and this task has rules on what "
    "its code may use: write it out plainly"
)


def _problems(unit: Unit, rules: tuple[Rule, ...]) -> Iterator[tuple[str, str]]:
    """(what, why) for each thing ``unit`` uses that one of ``rules`` forbids, or that could be
    anything (computed code or names) where a rule could forbid it."""
    found = unit.findings
    for rule in rules:
        hits = sorted(n for n in found.uses if _matches(n, rule))
        hits += sorted(
            f".{a}"
            for a in found.attributes
            if a in rule.attributes and not any(n.endswith(f".{a}") for n in hits)
        )
        for what in hits:
            yield what, rule.why
    for what, target in found.unreadable:
        if not target or any(_reaches(target, rule) for rule in rules):
            yield what, _CANT_READ


@lru_cache(maxsize=2)
def _notebook(cells: tuple[tuple[str, str, str], ...]) -> Notebook:
    """The parsed notebook of ``cells`` ((type, source, metadata as JSON)): parsed once for all
    of its test cells."""
    return Notebook(
        NotebookNode(
            cells=[NotebookNode(cell_type=t, source=s, metadata=json.loads(m)) for t, s, m in cells]
        )
    )


def violations(nb: NotebookNode, task: str, rules: dict[str, tuple[Rule, ...]]) -> list[str]:
    """Student-facing lines, one per thing ``task``'s code uses against its rules (``rules``:
    task -> its own rules, as ``lab_rules`` gives; ``EVERY_TASK`` apply to every task)."""
    notebook = _notebook(
        tuple(
            (c.cell_type, c.source, json.dumps(c.get("metadata", {}), sort_keys=True))
            for c in nb.cells
        )
    )
    own = notebook.solution_cell(task)
    found: list[tuple[str, str, str]] = []  # (what, why, where)
    for unit in notebook.code_of(task):
        where = (
            ""
            if unit.cell == own
            else f" (in {unit.label}, cell {unit.cell})"
            if unit.label.isidentifier()
            else f" (in {unit.label})"
        )
        found += [
            (what, why, where) for what, why in _problems(unit, rules.get(task, ()) + EVERY_TASK)
        ]
    deepest = [
        (what, why, where)
        for what, why, where in found  # torch.autograd.grad, not both
        if not any(w != what and y == why and _under(w, what) for w, y, _ in found)
    ]
    return list(dict.fromkeys(f"{task} uses {what}{where}: {why}" for what, why, where in deepest))


def refusal(
    nb: NotebookNode, cell: NotebookNode, resources: dict, course_root: str | None
) -> NotebookNode | None:
    """The error output a test cell gets instead of running when its task's code breaks the
    task's rules (nbgrader scores an errored test cell 0), or None. ``resources``: nbgrader's
    (they name the lab); ``course_root``: the course folder, whose ``source/<lab>/`` may hold
    the lab's ``integrity.json``."""
    task = _grade_id(cell)
    lab = resources.get("nbgrader", {}).get("assignment") or ""
    folder = Path(course_root) / "source" / lab if course_root and lab else None
    try:
        lines = violations(nb, task, lab_rules(lab, folder)) if task else []
    except (RecursionError, MemoryError, ValueError) as exc:  # code too deep or odd to read
        lines = [
            f"{task}: the grader could not read the notebook's code "
            f"({type(exc).__name__}); simplify it"
        ]
    if not lines:
        return None
    title = f"{task}: its code breaks the task's rules, so its tests were not run (0 points)"
    return new_output(
        "error",
        ename="RuleViolation",
        evalue="\n".join([title, *lines]),
        traceback=[title, *(f"- {line}" for line in lines)],
    )
