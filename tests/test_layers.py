"""The package layout is one-way: config -> data -> optimize -> report -> pipelines -> serving ->
tracking -> analysis -> cli. A module may import its own stage and the stages before it, never a
later one, and no two modules import each other, directly or round a loop (lazy imports inside
functions count: they are the same dependency, only later).

Entry points (`__main__.py` files) sit on top and may import anything.
"""

from __future__ import annotations

import ast
from pathlib import Path

import ems_sweep

PACKAGE = Path(ems_sweep.__file__).parent
STAGES = [
    ("names", "config"),
    ("data",),
    ("optimize",),
    ("report",),
    ("pipelines",),
    ("serving",),
    ("tracking",),
    ("analysis",),
    ("cli",),
]
RANK = {name: rank for rank, names in enumerate(STAGES) for name in names}

# Left from before the layout was enforced, each to be removed by the change that fixes it: the
# tests fail when a new one appears and when a listed one is gone (so the lists only shrink).
KNOWN_UPWARD = {
    "ems_sweep.pipelines.result -> ems_sweep.tracking.record",
    "ems_sweep.tracking.callback -> ems_sweep.cli.outcome",
    "ems_sweep.tracking.callback -> ems_sweep.analysis.sweep_table",
    "ems_sweep.tracking.callback -> ems_sweep.analysis.sweep_html",
}
KNOWN_CYCLES = {
    "ems_sweep.pipelines.result -> ems_sweep.tracking.record",
    "ems_sweep.pipelines.runner -> ems_sweep.pipelines.comparison",
    "ems_sweep.analysis.sweep_html -> ems_sweep.analysis.sweep_table",
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _type_checking_lines(tree: ast.Module) -> set[int]:
    """Lines under `if TYPE_CHECKING:`: annotations only, not a dependency at run time."""
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", "") == "TYPE_CHECKING":
            for child in node.body:
                lines.update(range(child.lineno, (child.end_lineno or child.lineno) + 1))
    return lines


def _imports(path: Path) -> set[str]:
    """The ems_sweep modules a file imports, anywhere in it (`from pkg import mod` names mod)."""
    tree = ast.parse(path.read_text())
    skip = _type_checking_lines(tree)
    found: set[str] = set()
    for node in ast.walk(tree):
        if getattr(node, "lineno", 0) in skip:
            continue
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("ems_sweep."))
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "ems_sweep" or node.module.startswith("ems_sweep."):
                for alias in node.names:
                    sub = f"{node.module}.{alias.name}"
                    found.add(sub if _is_module(sub) else node.module)
    return found


def _is_module(name: str) -> bool:
    path = PACKAGE.parent.joinpath(*name.split("."))
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


def _graph() -> dict[str, set[str]]:
    return {_module_name(p): _imports(p) for p in sorted(PACKAGE.rglob("*.py"))}


def _stage(module: str) -> str:
    return module.split(".")[1]


def test_every_module_belongs_to_a_stage() -> None:
    """A new top-level module must say which stage it is by where it lives."""
    loose = {
        m
        for m in _graph()
        if m.count(".") >= 1 and _stage(m) not in RANK and _stage(m) != "__main__"
    }
    assert not loose, f"modules outside the stage packages {sorted(RANK)}: {sorted(loose)}"


def test_no_module_imports_a_later_stage() -> None:
    upward = {
        f"{module} -> {target}"
        for module, targets in _graph().items()
        if not module.endswith("__main__")
        for target in targets
        if RANK.get(_stage(target), -1) > RANK.get(_stage(module), len(STAGES))
    }
    assert upward - KNOWN_UPWARD == set(), "new upward imports (module -> later stage)"
    assert KNOWN_UPWARD - upward == set(), "fixed: remove these from KNOWN_UPWARD"


def test_no_import_cycle() -> None:
    graph = _graph()
    modules = set(graph)
    edges = {m: {t for t in ts if t in modules and t != m} for m, ts in graph.items()}
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                cycles.append([*path[path.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for module in sorted(edges):
        if module not in state:
            visit(module, [module])
    found = {" -> ".join(cycle[:2]) for cycle in cycles}  # a loop, named by its first edge
    assert found - KNOWN_CYCLES == set(), "new import cycles (first edge of each loop)"
    assert KNOWN_CYCLES - found == set(), "fixed: remove these from KNOWN_CYCLES"


def test_the_checks_see_a_planted_upward_import(tmp_path: Path) -> None:
    """The walk finds imports inside functions too (the checks above would pass vacuously else)."""
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from ems_sweep.analysis.compare import main\n")
    assert _imports(module) == {"ems_sweep.analysis.compare"}
