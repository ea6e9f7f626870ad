"""The layer contract of ../shared/DESIGN.md ("Layers"), checked by reading every import of the tree.

Each package belongs to one layer. A module may import its own layer's modules and those of any layer below it,
never one above. The applications (kiosk, door daemon, sync agent, hub) share a layer but do not import one
another. The hub, moreover, reaches nothing of the appliance's domain, not even through another module.

Every import counts, wherever it stands: at the top of a module, inside a function, under TYPE_CHECKING.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

# Highest first. A layer is a list of groups; a group is a list of module prefixes. Within the applications'
# layer each group is one application, and groups may not import one another; elsewhere a layer is one group.
LAYERS: tuple[tuple[str, tuple[tuple[str, ...], ...]], ...] = (
    ("composition", (("halfday", "bench"),)),
    ("applications", (("kiosk",), ("access.daemon",), ("sync.agent",), ("sync.hub",), ("sync.homeassistant",))),
    ("contracts", (("sync.localbus", "sync.protocol", "sync.payloads", "sync.signing", "sync.mqtt", "sync"),)),
    ("domain", (("access",),)),
    ("foundation", (("common",),)),
    ("hardware", (("hardware",),)),
)
PACKAGES = ("halfday", "bench", "kiosk", "access", "sync", "common", "hardware")
# Modules the hub may not reach at all, directly or through another module: the appliance's domain and apps.
HUB = "sync.hub"
HUB_FORBIDDEN = ("access", "kiosk", "sync.agent", "sync.localbus")


@dataclass(frozen=True, order=True)
class Import:
    importer: str
    imported: str
    line: int


@dataclass(frozen=True)
class Place:
    layer: int
    name: str
    group: int


def _prefix_match(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def place(module: str) -> Place | None:
    """The layer and group of `module` by its longest matching prefix; None for modules not under contract."""
    best: tuple[int, Place] | None = None
    for layer, (name, groups) in enumerate(LAYERS):
        for group, prefixes in enumerate(groups):
            for prefix in prefixes:
                if _prefix_match(module, prefix) and (best is None or len(prefix) > best[0]):
                    best = (len(prefix), Place(layer, name, group))
    return best[1] if best else None


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules(root: Path, packages: Iterable[str] = PACKAGES) -> dict[str, Path]:
    """Every module of our packages under `root`, by dotted name."""
    found: dict[str, Path] = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            found[module_name(root, path)] = path
    return found


def imports_of(name: str, path: Path, known: dict[str, Path]) -> Iterator[Import]:
    """Each import of one of our modules by module `name`, resolved to the most specific module it names."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield from _ours(name, alias.name, node.lineno, known)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                yield from _ours(name, candidate if candidate in known else base, node.lineno, known)


def _ours(importer: str, imported: str, line: int, known: dict[str, Path]) -> Iterator[Import]:
    while imported and imported not in known:
        imported = imported.rpartition(".")[0]
    if imported and not _prefix_match(importer, imported):
        yield Import(importer, imported, line)


def violations(root: Path) -> list[str]:
    """Every import that breaks the contract, one line each naming the file, the line and the rule (empty: it holds)."""
    known = modules(root)
    graph = {name: sorted(set(imports_of(name, path, known))) for name, path in known.items()}
    problems: list[str] = []
    for name, found in sorted(graph.items()):
        here = place(name)
        if here is None:
            problems.append(f"{name}: not in any layer of tests/support/layers.py")
            continue
        for imp in found:
            there = place(imp.imported)
            if there is None:
                continue
            where = f"{known[name].relative_to(root)}:{imp.line}: {name} imports {imp.imported}"
            if there.layer < here.layer:
                problems.append(f"{where}: the {here.name} layer may not import the {there.name} layer above it")
            elif there.layer == here.layer and there.group != here.group:
                problems.append(f"{where}: two applications may not import each other")
    problems.extend(_hub_reach(graph, known, root))
    return problems


def _hub_reach(graph: dict[str, list[Import]], known: dict[str, Path], root: Path) -> Iterator[str]:
    """The hub's modules that reach a forbidden module, with the chain that does it."""
    for start in sorted(m for m in graph if _prefix_match(m, HUB)):
        chain: dict[str, str | None] = {start: None}
        todo = [start]
        while todo:
            current = todo.pop()
            for imp in graph.get(current, []):
                if imp.imported in chain:
                    continue
                chain[imp.imported] = current
                if any(_prefix_match(imp.imported, bad) for bad in HUB_FORBIDDEN):
                    path = [imp.imported]
                    step: str | None = current
                    while step is not None:
                        path.append(step)
                        step = chain[step]
                    yield (
                        f"{known[start].relative_to(root)}: the hub reaches the appliance's {imp.imported}: "
                        + " -> ".join(reversed(path))
                    )
                    todo.clear()
                    break
                todo.append(imp.imported)
