"""No module imports a name that starts with `_` from another module: what two modules share is public, so that a
private name can change with its module alone. The source of cmsf, of cmsf-sandbox, of the tests and of the
benchmarks is read, imports inside functions included (`__future__` and dunder names are not private)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TREES = ["src", "sandbox/src", "tests", "bench"]


def _private_imports(source: str, name: str) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom):
            module = "." * node.level + (node.module or "")
            parts = [*module.split("."), *(alias.name for alias in node.names)]
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.Import):
            parts = [part for alias in node.names for part in alias.name.split(".")]
            names = [alias.name for alias in node.names]
        else:
            continue
        if any(part.startswith("_") and not part.startswith("__") for part in parts):
            found.append(f"{name}:{node.lineno}: {', '.join(names)}")
    return found


def test_no_module_imports_a_private_name():
    paths = [p for tree in TREES for p in (ROOT / tree).rglob("*.py")]
    assert len(paths) > 200  # the four trees were read
    found = [line for p in paths for line in _private_imports(p.read_text(encoding="utf-8"), str(p.relative_to(ROOT)))]
    assert found == []


@pytest.mark.parametrize(
    "source",
    [
        "from cmsf.salesforce.adapter import SalesforceAdapter, _plain\n",
        "def f():\n    from cmsf.sync.engine import _write_behind\n",
        "from cmsf.sync import _run\n",
        "import cmsf._private\n",
    ],
)
def test_a_private_import_is_found(source):
    assert len(_private_imports(source, "probe.py")) == 1


@pytest.mark.parametrize(
    "source",
    [
        "from __future__ import annotations\n",
        "from cmsf import __version__\n",
        "from cmsf.salesforce.adapter import plain_record\n",
        "from . import views\n",
    ],
)
def test_public_and_dunder_names_are_let_through(source):
    assert _private_imports(source, "probe.py") == []
