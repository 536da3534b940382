"""The emulators' modules import each other one way: no module of the Salesforce or the Campaign Monitor
emulator imports (at run time, in a function or at the top) a module that imports it back."""

from __future__ import annotations

import grimp
import pytest

PACKAGES = ("cmsf_sandbox.salesforce", "cmsf_sandbox.campaign_monitor")


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph(
        "cmsf_sandbox", include_external_packages=False, exclude_type_checking_imports=True, cache_dir=None
    )


def _cycles(graph: grimp.ImportGraph, package: str) -> list[tuple[str, ...]]:
    """Each cycle among the modules of `package` once, as the chain of modules that closes it."""
    modules = sorted(m for m in graph.find_descendants(package) if m.count(".") == package.count(".") + 1)
    inside = set(modules)
    found: list[tuple[str, ...]] = []
    seen: set[frozenset[str]] = set()
    for start in modules:
        for middle in graph.find_modules_directly_imported_by(start) & inside:
            chain = graph.find_shortest_chain(importer=middle, imported=start)
            if chain is None:
                continue
            cycle = (start, *chain)
            key = frozenset(cycle)
            if key not in seen:
                seen.add(key)
                found.append(cycle)
    return found


@pytest.mark.parametrize("package", PACKAGES)
def test_no_import_cycle(graph: grimp.ImportGraph, package: str) -> None:
    cycles = _cycles(graph, package)
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(cycle) for cycle in cycles)


def test_the_packages_are_found(graph: grimp.ImportGraph) -> None:
    # a typo in PACKAGES would make the test above pass on nothing
    for package in PACKAGES:
        assert f"{package}.app" in graph.find_descendants(package)
