"""Where a graded task's answer could hide in a folder of code: the audit of the student handout.

The graded tasks come from the solution notebooks, not from a hand list: every function defined
in a solution cell (at any depth: methods too) whose body holds a ``### BEGIN SOLUTION`` region.
A folder leaks an answer if any of its Python files or notebooks

- defines such a function (by name and parameters; a method by class, name and parameters) with
  more in its body than the statements the solution gives around the region and a stub
  (``raise NotImplementedError``, ``pass``, ``...``, a docstring); a function that only shares
  the name, with other parameters (Lab 2's given ``net.train`` and Lab 1's graded ``train``), is
  another function; or
- defines any function or class whose *alpha-renamed* AST (identifiers, attributes and argument
  names numbered in order of appearance, docstrings and annotations dropped) equals that of a
  definition in a solution cell or in ``autograder/reference/``: a renamed copy.
  Definitions the student notebooks themselves give (and tiny ones, under ``MIN_NODES``) are no
  answers and are not compared; or
- holds a sentence of a model answer to a written question (a markdown solution cell of a
  solution notebook; ``WRITTEN_MIN`` characters or more) in any text file: the questions
  themselves are in the student notebooks, the answers never.
"""

from __future__ import annotations

import ast
import copy
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from .course import REPO

REFERENCE_DIR = REPO / "autograder" / "reference"
BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
MIN_NODES = 30
"""Definitions smaller than this (after normalising) are too generic to call a copy."""
WRITTEN_MIN = 40
"""Characters of a model answer's sentence the audit looks for: shorter ones are too generic."""


@dataclass
class Graded:
    """A graded function of a solution cell: where it is, and the statements given around it."""

    lab: str
    qualname: str
    params: tuple[str, ...]
    given: set[str] = field(default_factory=set)


def code_cells(nb: nbformat.NotebookNode, *, solution: bool | None = None) -> Iterator[str]:
    """Python source of the notebook's code cells (IPython magics dropped); ``solution``: only
    nbgrader solution cells (True) or only the others (False)."""
    for cell in nb.cells:
        is_solution = bool(cell.metadata.get("nbgrader", {}).get("solution"))
        if cell.cell_type == "code" and solution in (None, is_solution):
            yield "\n".join(
                line
                for line in cell.source.splitlines()
                if not line.lstrip().startswith(("%", "!"))
            )


def graded_functions(lab: str, solution: nbformat.NotebookNode) -> list[Graded]:
    """Every function of the lab's solution cells that holds a solution region."""
    graded = []
    for source in code_cells(solution, solution=True):
        lines = source.splitlines()
        regions = [n for n, line in enumerate(lines, 1) if line.strip() == BEGIN]
        ends = [n for n, line in enumerate(lines, 1) if line.strip() == END]
        inside = {n for start, end in zip(regions, ends) for n in range(start, end + 1)}
        for qualname, node in definitions(ast.parse(source)):
            if isinstance(node, ast.ClassDef) or not any(
                node.lineno <= n <= node.end_lineno for n in regions
            ):
                continue
            given = {
                ast.dump(s)
                for s in node.body
                if not inside & set(range(s.lineno, s.end_lineno + 1))
            }
            graded.append(Graded(lab, qualname, parameters(node), given))
    return graded


def definitions(tree: ast.AST, prefix: str = "") -> Iterator[tuple[str, ast.AST]]:
    """(qualified name, node) of every function and class in ``tree``, at any depth."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            qualname = f"{prefix}{node.name}"
            yield qualname, node
            yield from definitions(node, f"{qualname}.")
        else:
            yield from definitions(node, prefix)


def parameters(node: ast.FunctionDef | ast.AsyncFunctionDef) -> tuple[str, ...]:
    """The parameter names of a function, ``self`` and ``cls`` aside: its contract."""
    args = node.args
    names = [a.arg for a in (*args.posonlyargs, *args.args, *args.kwonlyargs)]
    return tuple(n for n in names if n not in ("self", "cls"))


def is_stub(statement: ast.stmt) -> bool:
    """A docstring, ``pass``, ``...`` or ``raise NotImplementedError(...)``."""
    if isinstance(statement, ast.Pass):
        return True
    if isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant):
        return isinstance(statement.value.value, str) or statement.value.value is Ellipsis
    if isinstance(statement, ast.Raise) and statement.exc is not None:
        exc = statement.exc.func if isinstance(statement.exc, ast.Call) else statement.exc
        return isinstance(exc, ast.Name) and exc.id == "NotImplementedError"
    return False


class _Normalise(ast.NodeTransformer):
    """Number every identifier in order of appearance; drop docstrings and annotations."""

    def __init__(self) -> None:
        self.names: dict[str, str] = {}

    def _name(self, name: str) -> str:
        return self.names.setdefault(name, f"v{len(self.names)}")

    def _definition(self, node: ast.AST) -> ast.AST:
        node.name = self._name(node.name)
        if node.body and is_stub(node.body[0]) and isinstance(node.body[0], ast.Expr):
            node.body = node.body[1:] or [ast.Pass()]
        if hasattr(node, "returns"):
            node.returns = None
        return self.generic_visit(node)

    visit_FunctionDef = visit_AsyncFunctionDef = visit_ClassDef = _definition

    def visit_Name(self, node: ast.Name) -> ast.AST:
        node.id = self._name(node.id)
        return node

    def visit_Attribute(self, node: ast.Attribute) -> ast.AST:
        node.attr = self._name(node.attr)
        return self.generic_visit(node)

    def visit_arg(self, node: ast.arg) -> ast.AST:
        node.arg, node.annotation = self._name(node.arg), None
        return node

    def visit_AnnAssign(self, node: ast.AnnAssign) -> ast.AST:
        node.annotation = ast.Constant(None)
        return self.generic_visit(node)


def fingerprint(node: ast.AST) -> str | None:
    """The alpha-renamed AST of a definition, or None when it is under ``MIN_NODES``."""
    normal = _Normalise().visit(copy.deepcopy(node))
    if sum(1 for _ in ast.walk(normal)) < MIN_NODES:
        return None
    return ast.dump(normal, annotate_fields=False)


@dataclass
class Answers:
    """What counts as an answer: the graded functions, and fingerprints of answer code."""

    graded: list[Graded]
    prints: dict[str, str]
    """fingerprint -> where the answer is (e.g. 'solutions/lab0: eval_AP')."""
    written: dict[str, str] = field(default_factory=dict)
    """sentence of a model answer -> its question (e.g. 'solutions/lab0: q_gmm_failure')."""

    @classmethod
    def of(
        cls, solutions: dict[str, nbformat.NotebookNode], given: Iterable[nbformat.NotebookNode]
    ) -> Answers:
        """The answers of ``solutions`` (lab -> solution notebook) and of the reference modules,
        less the definitions the ``given`` (student) notebooks hold themselves."""
        graded, prints = [], {}
        for lab, nb in solutions.items():
            graded += graded_functions(lab, nb)
            for source in code_cells(nb, solution=True):
                for qualname, node in definitions(ast.parse(source)):
                    if p := fingerprint(node):
                        prints[p] = f"solutions/{lab}: {qualname}"
        for path in sorted(REFERENCE_DIR.glob("*.py")):
            for qualname, node in definitions(ast.parse(path.read_text())):
                if p := fingerprint(node):
                    prints.setdefault(p, f"{path.relative_to(REPO)}: {qualname}")
        written = {
            sentence: f"solutions/{lab}: {gid}"
            for lab, nb in solutions.items()
            for gid, source in written_answers(nb)
            for sentence in sentences(source)
        }
        for nb in given:
            for source in code_cells(nb):
                for _, node in definitions(ast.parse(source)):
                    prints.pop(fingerprint(node), None)
            text = _normal(" ".join(c.source for c in nb.cells))
            written = {s: where for s, where in written.items() if s not in text}
        return cls(graded, prints, written)

    def written_leaks(self, where: str, text: str) -> list[str]:
        """Model answers to written questions found in one file's text."""
        text = _normal(text)
        found = dict.fromkeys(q for s, q in self.written.items() if s in text)
        return [f"{where}: holds the model answer of {question}" for question in found]

    def leaks(self, where: str, tree: ast.AST) -> list[str]:
        """Answers found in one parsed file (``where`` names it in the messages)."""
        found = []
        by_name = {g.qualname: g for g in self.graded}
        for qualname, node in definitions(tree):
            graded = _graded_for(qualname, by_name)
            if graded and not isinstance(node, ast.ClassDef) and parameters(node) == graded.params:
                extra = [s for s in node.body if ast.dump(s) not in graded.given and not is_stub(s)]
                if extra:
                    found.append(
                        f"{where}: {qualname} implements graded task "
                        f"{graded.lab}.{graded.qualname} (line {extra[0].lineno})"
                    )
            source = self.prints.get(fingerprint(node))
            if source:
                found.append(
                    f"{where}: {qualname} (line {node.lineno}) is a renamed copy of " f"{source}"
                )
        return found


def _graded_for(qualname: str, by_name: dict[str, Graded]) -> Graded | None:
    """The graded function ``qualname`` names: the same qualified name, or for a plain function
    the same name (a graded top-level function may not hide as a method or nested function)."""
    if qualname in by_name:
        return by_name[qualname]
    last = qualname.rsplit(".", 1)[-1]
    found = by_name.get(last)
    return found if found and "." not in found.qualname else None


def written_answers(nb: nbformat.NotebookNode) -> Iterator[tuple[str, str]]:
    """(grade id, model answer) of the notebook's written answers: markdown solution cells."""
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type == "markdown" and meta.get("solution"):
            yield meta.get("grade_id", "?"), cell.source


def sentences(text: str) -> set[str]:
    """The sentences of ``text`` (whitespace collapsed) of ``WRITTEN_MIN`` characters or more."""
    parts = re.split(r"(?<=[.:;!?])\s+", _normal(text))
    return {part for part in parts if len(part) >= WRITTEN_MIN}


def _normal(text: str) -> str:
    return " ".join(text.split())


def scan(root: Path, answers: Answers) -> list[str]:
    """Every answer found in the Python files and notebooks under ``root`` (and, for the written
    answers, in any text file)."""
    found = []
    for path in sorted(root.rglob("*.py")):
        found += answers.leaks(str(path.relative_to(root)), ast.parse(path.read_text()))
    for path in sorted(root.rglob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        for n, source in enumerate(code_cells(nb), 1):
            found += answers.leaks(f"{path.relative_to(root)} (code cell {n})", ast.parse(source))
        text = " ".join(c.source for c in nb.cells)
        found += answers.written_leaks(str(path.relative_to(root)), text)
    for path in sorted(p for p in root.rglob("*") if p.is_file() and p.suffix != ".ipynb"):
        try:
            text = path.read_text()
        except UnicodeDecodeError:  # data, not text
            continue
        found += answers.written_leaks(str(path.relative_to(root)), text)
    return found
