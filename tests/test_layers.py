"""The package's layers look only down: the graph of imports between ``stqs_core`` modules has no cycle.

Imports inside functions count too (a lazy import hides a cycle, it does not remove it). Run this file as a script
to print the graph: ``python tests/test_layers.py``.
"""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "stqs_core"


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, list[str]]:
    """``{module: [stqs_core modules it imports, anywhere in its source]}`` for every module of the package."""
    paths = {_module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}
    graph = {}
    for name, path in paths.items():
        package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        found = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = package[: len(package) - node.level + 1] if node.level else []
                target = ".".join([*base, *([node.module] if node.module else [])])
                # `from pkg import module` imports the module; `from module import name` the module itself
                found.update(f"{target}.{a.name}" if f"{target}.{a.name}" in paths else target for a in node.names)
        graph[name] = sorted(found & set(paths) - {name})
    return graph


def test_no_import_cycles():
    graph = import_graph()
    assert len(graph) > 30 and "stqs_core.store" in graph  # the walk found the package
    try:
        order = list(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as err:
        raise AssertionError(f"import cycle: {' -> '.join(err.args[1])}") from None
    assert set(order) == set(graph)


def test_the_hdf5_and_file_layers_import_no_network():
    """Epoch stores and hypnogram/EDF files are read and written without the model or checkpoint modules."""
    graph = import_graph()

    def below(module: str) -> set[str]:
        seen, todo = set(), [module]
        while todo:
            for dep in graph[todo.pop()]:
                if dep not in seen:
                    seen.add(dep)
                    todo.append(dep)
        return seen

    for module in ("stqs_core.store", "stqs_core.annotations", "stqs_core.edf", "stqs_core.exports"):
        assert not below(module) & {"stqs_core.checkpoint", "stqs_core.model", "stqs_core.fastconv"}, module
    assert "stqs_core.recording" not in below("stqs_core.annotations")
    assert "stqs_core.simulate.night" not in below("stqs_core.simulate.stage_model")


if __name__ == "__main__":
    for module, imports in import_graph().items():
        print(f"{module} -> {', '.join(imports) or '(none)'}")
