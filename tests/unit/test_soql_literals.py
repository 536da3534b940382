"""Every value compared in a SOQL query of cmsf is a literal made by `salesforce/soql.py` (quote, quote_list,
contains, datetime_literal): no query quotes a value by hand or puts one in as it is.

The test reads the source of `src/cmsf`: in each f-string that reads as SOQL, a value put after a comparison
(`=`, `!=`, `<`, `>`, `<=`, `>=`, `IN`, `LIKE`, `INCLUDES`, `EXCLUDES`) must be a call into soql.py, or a
name the module binds to one (a variable, an imported helper, or a function that returns one)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "cmsf"
SOQL_MODULE = "cmsf.salesforce.soql"
SOQL_WORDS = re.compile(r"\bSELECT |\bWHERE |\bFROM [A-Za-z]| IN \(| LIKE |^ ?AND |\bAND \(")
AFTER_COMPARISON = re.compile(r"(?:[=<>]|\bIN \(?|\bLIKE |\bINCLUDES \(|\bEXCLUDES \()\s*$")
HAND_QUOTED = re.compile(r"'\s*$")


def _modules() -> list[Path]:
    return sorted(p for p in SRC.rglob("*.py") if "migrations" not in p.parts and p != SRC / "salesforce" / "soql.py")


def _soql_names(tree: ast.Module) -> tuple[set[str], set[str]]:
    """(names of the soql module, names bound to its literals): `soql` as imported, its helpers imported by name,
    the variables assigned from a call of one (or looping over such calls), and the functions that return one."""
    modules: set[str] = set()
    derived: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == SOQL_MODULE:
            derived |= {alias.asname or alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module == "cmsf.salesforce":
            modules |= {alias.asname or alias.name for alias in node.names if alias.name == "soql"}
        elif isinstance(node, ast.Import):
            modules |= {alias.asname for alias in node.names if alias.name == SOQL_MODULE and alias.asname}
    while True:
        before = len(derived)
        for node in ast.walk(tree):
            if isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign) and node.value is not None:
                if _made_by_soql(node.value, modules, derived):
                    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                    derived |= {t.id for t in targets if isinstance(t, ast.Name)}
            elif isinstance(node, ast.comprehension | ast.For) and _made_by_soql(node.iter, modules, derived):
                derived |= {t.id for t in ast.walk(node.target) if isinstance(t, ast.Name)}
            elif isinstance(node, ast.FunctionDef):
                returns = [n.value for n in ast.walk(node) if isinstance(n, ast.Return) and n.value is not None]
                if returns and all(_made_by_soql(value, modules, derived) for value in returns):
                    derived.add(node.name)
        if len(derived) == before:
            return modules, derived


def _made_by_soql(expression: ast.expr, modules: set[str], derived: set[str]) -> bool:
    """The expression is a literal of soql.py's: a call of one of its helpers (or of a name bound to one), or a
    name bound to such a call."""
    if isinstance(expression, ast.Name):
        return expression.id in derived
    for node in ast.walk(expression):
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id in modules:
                return True
            if isinstance(func, ast.Name) and func.id in derived:
                return True
    return False


def _problems(source: str, name: str) -> list[str]:
    """What the module `name`, whose text is `source`, puts in its SOQL queries without soql.py."""
    return _checked(source, name)[1]


def _checked(source: str, name: str) -> tuple[int, list[str]]:
    """(how many values compared in SOQL were checked, the problems found) in the module `name`."""
    tree = ast.parse(source)
    modules, derived = _soql_names(tree)
    checked, found = 0, []
    for node in ast.walk(tree):
        if not isinstance(node, ast.JoinedStr):
            continue
        text = "".join(part.value for part in node.values if isinstance(part, ast.Constant))
        if not SOQL_WORDS.search(text):
            continue
        before = ""
        for part in node.values:
            if isinstance(part, ast.Constant):
                before = str(part.value)
                continue
            assert isinstance(part, ast.FormattedValue)
            where = f"{name}:{part.lineno}: {ast.unparse(part.value)}"
            if HAND_QUOTED.search(before):
                found.append(f"{where} is quoted by hand")
            elif AFTER_COMPARISON.search(before):
                checked += 1
                if not _made_by_soql(part.value, modules, derived):
                    found.append(f"{where} is compared without a literal of salesforce/soql.py")
            before = ""
    return checked, found


def test_every_soql_value_is_a_literal_of_soql_py():
    checked, found = 0, []
    for path in _modules():
        count, problems = _checked(path.read_text(encoding="utf-8"), str(path.relative_to(SRC)))
        checked, found = checked + count, found + problems
    assert found == []
    assert checked >= 25  # the queries of the sync, the connections, the audience and the adapter were read


@pytest.mark.parametrize(
    ("source", "problem"),
    [
        ('def f(email):\n    return f"SELECT Id FROM Lead WHERE Email = \'{email}\'"\n', "quoted by hand"),
        ('def f(email):\n    return f"SELECT Id FROM Lead WHERE Email = {email}"\n', "without a literal"),
        ('def f(ids):\n    return f"SELECT Id FROM Lead WHERE Id IN ({\', \'.join(ids)})"\n', "without a literal"),
        ('def f(names):\n    return f"SELECT Id FROM PermissionSet WHERE Name IN {names}"\n', "without a literal"),
        ("from cmsf.salesforce import soql\n\ndef f(email):\n    literal = email\n"
         '    return f"SELECT Id FROM Lead WHERE Email = {literal}"\n', "without a literal"),
    ],
)  # fmt: skip
def test_a_value_put_in_as_it_is_is_found(source, problem):
    found = _problems(source, "probe.py")
    assert len(found) == 1 and problem in found[0]


@pytest.mark.parametrize(
    "source",
    [
        'from cmsf.salesforce import soql\n\ndef f(email):\n    return f"SELECT Id FROM Lead WHERE Email = {soql.quote(email)}"\n',
        "from cmsf.salesforce import soql\n\ndef f(ids):\n    chunk = soql.quote_list(ids)\n"
        '    return f"SELECT Id FROM Lead WHERE Id IN ({chunk})"\n',
        "from cmsf.salesforce.soql import contains as like\n\ndef f(term):\n"
        '    return f" WHERE Name LIKE {like(term)}"\n',
        "from cmsf.salesforce.soql import datetime_literal\n\ndef since(moment):\n    return datetime_literal(moment)\n\n"
        'def f(moment):\n    return f"SELECT Id FROM Lead WHERE SystemModstamp >= {since(moment)}"\n',
        'def f(fields, sobject):\n    return f"SELECT {fields} FROM {sobject} LIMIT {int(5)}"\n',
    ],
)  # fmt: skip
def test_a_literal_of_soql_py_and_names_are_let_through(source):
    assert _problems(source, "probe.py") == []
