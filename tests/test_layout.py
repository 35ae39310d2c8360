"""The package's layout: short modules, no reaching into other modules' privates."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "sklearn_subdistill"
MODULES = sorted(PACKAGE.rglob("*.py"))

#: Modules the length limit does not apply to, with the reason.
LONG_MODULES = {}

#: Private names a module may read off an object of another module's (or
#: library's) class, each with the reason.
ALLOWED_PRIVATE = {
    ("_net.py", "_orig_mod"): "torch.compile's wrapper names the wrapped module "
    "only so; uncompiled() is the one place that reads it",
    ("_params.py", "_parameter_constraints"): "scikit-learn's convention for "
    "declaring parameters, read as scikit-learn's own validation reads it",
    ("_loading.py", "_validate_params"): "scikit-learn's parameter validation has "
    "no public name; load checks the saved parameters with it, as fit does",
    ("_loading.py", "_restore"): "the estimators' hook for load, which rebuilds "
    "them; private so that it is no part of their public API",
}


def _private_reads(tree):
    """``(line, name)`` of private attributes read off objects other than self."""
    defined = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            defined.add(node.name)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            defined.add(node.attr)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            defined.add(node.id)
    for node in ast.walk(tree):
        name = None
        if isinstance(node, ast.Attribute):
            own = isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")
            inherited = isinstance(node.value, ast.Call) and (
                getattr(node.value.func, "id", None) == "super"
            )
            if not (own or inherited):
                name = node.attr
        elif (
            isinstance(node, ast.Call)
            and getattr(node.func, "id", None) in ("getattr", "hasattr", "setattr")
            and len(node.args) > 1
            and isinstance(node.args[1], ast.Constant)
            and isinstance(node.args[1].value, str)
        ):
            name = node.args[1].value
        private = name and name.startswith("_") and not name.startswith("__")
        if private and name not in defined:
            yield node.lineno, name


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_no_module_reads_another_modules_private_members(path):
    tree = ast.parse(path.read_text())
    found = [
        f"{path.name}:{line}: {name}"
        for line, name in _private_reads(tree)
        if (path.name, name) not in ALLOWED_PRIVATE
    ]
    assert not found, "private members of other modules' classes:\n" + "\n".join(found)


def test_the_allowed_exceptions_are_still_needed():
    used = set()
    for path in MODULES:
        used |= {
            (path.name, name) for _, name in _private_reads(ast.parse(path.read_text()))
        }
    assert set(ALLOWED_PRIVATE) <= used, set(ALLOWED_PRIVATE) - used


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_modules_stay_short(path):
    n_lines = len(path.read_text().splitlines())
    assert n_lines <= 450 or path.name in LONG_MODULES, f"{path.name}: {n_lines}"
