"""The layers of ``src/ohgw``: no import cycle, and the analysis never imports the study harness.

Every module is parsed (not imported) and every ``import`` in it counts, those inside functions
included (a cycle broken by a function-level import is still a cycle in the design), and so do
the packages an import runs first (``a.b.c`` runs ``a`` and ``a.b``); imports under ``if
TYPE_CHECKING:`` never run and do not count. The lazy registries (``"module:factory"`` strings)
are no imports; the layer test below keeps the modules they load from reaching back up.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"


def module_names() -> dict[str, Path]:
    """Every module of the ``ohgw`` package: dotted name -> file."""
    out = {}
    for path in sorted((SRC / "ohgw").rglob("*.py")):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imported(tree: ast.AST, name: str, is_package: bool) -> set[str]:
    """Dotted names a module imports (absolute; relative ones resolved against ``name``):
    ``from a import b`` gives ``a.b`` and, for when ``b`` is no module, ``a`` (marked
    ``a:from``)."""
    found: set[str] = set()
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _type_checking(node):
            stack.extend(node.orelse)
            continue
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = name.split(".") if is_package else name.split(".")[:-1]
                package = package[: len(package) - node.level + 1]
                base = ".".join([*package, *([base] if base else [])])
            found.add(f"{base}:from")
            found |= {f"{base}.{alias.name}" for alias in node.names}
        stack.extend(ast.iter_child_nodes(node))
    return found


def import_graph() -> dict[str, set[str]]:
    """ohgw module -> the ohgw modules it imports."""
    modules = module_names()
    graph = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(), str(path))
        imported = _imported(tree, name, path.name == "__init__.py")
        plain = {m for m in imported if not m.endswith(":from")}
        for entry in imported - plain:  # `from a import x`: a itself unless every x is a module
            base = entry.removesuffix(":from")
            names = {
                m for m in plain if m.startswith(base + ".") and "." not in m[len(base) + 1 :]
            }
            if not names <= set(modules):
                plain.add(base)
        # Importing a.b.c runs a/__init__ and a/b/__init__ first: edges to the packages too,
        # but for the module's own packages, which always run before the module itself.
        parents = {".".join(m.split(".")[:i]) for m in plain for i in range(1, m.count(".") + 1)}
        parents = {p for p in parents if not (name + ".").startswith(p + ".")}
        graph[name] = {m for m in plain | parents if m in modules and m != name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a list of modules (first == last), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: finished
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                return [*path[path.index(target) :], target]
            if target not in state:
                cycle = visit(target)
                if cycle:
                    return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def test_the_walker_sees_function_level_imports_and_finds_a_cycle() -> None:
    tree = ast.parse("def f():\n    from ohgw.b import x\nif TYPE_CHECKING:\n    import ohgw.c\n")
    assert _imported(tree, "ohgw.a", False) == {"ohgw.b:from", "ohgw.b.x"}
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}
    assert find_cycle(graph) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_module_of_ohgw_is_part_of_an_import_cycle() -> None:
    graph = import_graph()
    assert len(graph) > 40 and "ohgw.trial" in graph
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph) or [])


def test_the_analysis_never_imports_the_study_harness() -> None:
    graph = import_graph()
    offending = {
        (module, target)
        for module, targets in graph.items()
        if module.startswith("ohgw.analysis")
        for target in targets
        if target == "ohgw.study" or target.startswith("ohgw.study.")
    }
    assert not offending, sorted(offending)
    # and the low modules both may read sit below both
    for low in ("ohgw.store", "ohgw.store.study_dir", "ohgw.variants", "ohgw.paths"):
        assert not any(t.startswith(("ohgw.study.", "ohgw.analysis")) for t in graph[low]), low


def test_running_a_study_imports_nothing_of_the_analysis() -> None:
    """The overview and the report are asked for at the edge (the CLI), after a study."""
    graph = import_graph()
    harness = ("ohgw.study", "ohgw.store", "ohgw.trial")
    offending = {
        (module, target)
        for module, targets in graph.items()
        if module.startswith(harness)
        for target in targets
        if target == "ohgw.analysis" or target.startswith("ohgw.analysis.")
    }
    assert not offending, sorted(offending)


def test_the_study_layers_point_one_way() -> None:
    """config and plan below the engines, the engines below the pair loop (which resolves them
    by name, so a reach back up would be a cycle at run time the walk cannot see)."""
    graph = import_graph()
    below = {
        "ohgw.study.config": ("ohgw.study.plan", "ohgw.study.engines", "ohgw.study.runner"),
        "ohgw.study.pair": ("ohgw.study.plan", "ohgw.study.engines", "ohgw.study.runner"),
        "ohgw.study.plan": ("ohgw.study.engines", "ohgw.study.runner"),
    }
    for engine in (m for m in graph if m.startswith("ohgw.study.engines.")):
        below[engine] = ("ohgw.study.runner", "ohgw.study.optuna_worker", "ohgw.cli")
    offending = {
        (module, target)
        for module, forbidden in below.items()
        for target in graph[module]
        if target.startswith(forbidden)
    }
    assert not offending, sorted(offending)
    assert "ohgw.study" in graph["ohgw.cli"]  # the package an import runs first counts
