"""The house as drawn in docs/architecture.md: imports flow one way, from the entry points to
the services to the pure cores, with no circles, and the web and API packages never import
each other. Read from the source of every module under catalog/, so a new import against the
direction fails here, whether it sits at the top of a file or inside a function."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

CATALOG = Path(__file__).resolve().parent.parent / "catalog"

# Every unit of the package and its rank; a unit may import its own modules and units of a
# lower rank only. Units of one rank never import each other: the four entry points (pages,
# API, command line, probes) stand side by side, above the HTTP helpers they share; only the
# factory builds the app from all of them.
LAYERS: dict[str, int] = {
    # pure cores: bytes in, hashes out; nearest neighbours
    "catalog.hashing": 0,
    "catalog.netguard": 0,  # requests only to public addresses (captures, the deletion watch)
    "catalog.tsa": 0,  # trusted timestamps (RFC 3161): asking for tokens, checking them
    "catalog.index": 1,
    "catalog.capture": 1,  # a post page kept: browser, web archive, what the page says
    # foundation: settings, the domain model, sessions, files, migrations
    "catalog.config": 2,
    "catalog.models": 3,
    "catalog.db": 4,
    "catalog.storage": 4,
    "catalog.schema": 4,
    # use cases (the worked example is one, loaded through the others)
    "catalog.services": 5,
    "catalog.demo": 6,
    # what the HTTP entry points share
    "catalog.replies": 7,
    "catalog.security": 7,
    "catalog.jobs": 7,  # the background job queue, which the entry points fill
    # entry points
    "catalog.web": 8,
    "catalog.api": 8,
    "catalog.cli": 8,
    "catalog.health": 8,
    "catalog": 9,  # the create_app factory
}
PURE = ("catalog.hashing", "catalog.index", "catalog.netguard", "catalog.capture", "catalog.tsa")
WEB_STACK = ("flask", "flask_login", "flask_wtf", "werkzeug", "sqlalchemy", "alembic")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(CATALOG.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path, runtime_only: bool = False) -> set[str]:
    """Return every module ``path`` imports (absolute names), wherever the import stands."""
    name = module_name(path)
    package = path.name == "__init__.py"
    return imports_in(path.read_text(), name, is_package=package, runtime_only=runtime_only)


def imports_in(source: str, name: str, *, is_package: bool, runtime_only: bool = False) -> set[str]:
    """Return the absolute names imported by the source of module ``name`` (with
    ``runtime_only``, leave out imports made only for the type checker)."""
    package = name if is_package else name.rsplit(".", 1)[0]
    tree = ast.parse(source)
    skipped: set[int] = set()
    if runtime_only:
        for node in ast.walk(tree):
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                skipped.update(id(child) for child in ast.walk(node))
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = parts[: len(parts) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if node.module:
                found.add(target)
            # "from . import web" imports the module catalog.web; "from .x import y" names y.
            found.update(f"{target}.{alias.name}" for alias in node.names)
    return found


def unit_of(module: str) -> str | None:
    """Return the layered unit a catalog module belongs to (None outside the package)."""
    if module != "catalog" and not module.startswith("catalog."):
        return None
    parts = module.split(".")
    unit = ".".join(parts[:2])
    return unit if unit in LAYERS else "catalog"


def sources() -> list[Path]:
    return sorted(CATALOG.rglob("*.py"))


def internal_edges() -> dict[str, set[str]]:
    """Module -> the catalog modules it imports when it runs (modules, not attributes)."""
    modules = {module_name(p) for p in sources()}
    edges: dict[str, set[str]] = defaultdict(set)
    for path in sources():
        for target in imports_of(path, runtime_only=True):
            if target in modules:
                edges[module_name(path)].add(target)
    return edges


def test_every_unit_of_the_package_has_a_layer() -> None:
    units = {unit_of(module_name(p)) for p in sources()}
    assert units <= set(LAYERS), units - set(LAYERS)
    tops = {p.relative_to(CATALOG).parts[0].removesuffix(".py") for p in sources()}
    assert {f"catalog.{t}" for t in tops if t != "__init__"} <= set(LAYERS)


@pytest.mark.parametrize("path", sources(), ids=lambda p: str(p.relative_to(CATALOG.parent)))
def test_imports_flow_one_way(path: Path) -> None:
    here = unit_of(module_name(path))
    assert here is not None
    wrong = []
    for target in sorted(imports_of(path)):
        there = unit_of(target)
        if there is None or there == here or here == "catalog":
            continue
        if LAYERS[there] >= LAYERS[here]:
            wrong.append(f"{target} ({there}, layer {LAYERS[there]})")
    assert not wrong, f"{here} (layer {LAYERS[here]}) imports against the direction: {wrong}"


@pytest.mark.parametrize("path", [p for p in sources() if module_name(p).startswith(PURE)])
def test_pure_cores_import_no_web_or_database_stack(path: Path) -> None:
    stack = {m for m in imports_of(path) if m.split(".")[0] in WEB_STACK}
    assert not stack, stack


def test_no_import_circles_between_modules() -> None:
    edges = internal_edges()
    # A circle is a module reaching back, directly or not, to one that imports it. A package's
    # __init__ that registers its own modules, and those modules taking names from it, is the
    # Flask blueprint pattern, not a circle. Type-checking-only imports do not run.
    state: dict[str, int] = {}
    circles: list[list[str]] = []

    def visit(module: str, trail: list[str]) -> None:
        state[module] = 1
        for target in sorted(edges.get(module, ())):
            if module.startswith(target + "."):
                continue  # a module importing its own package's __init__ (siblings' names)
            if state.get(target) == 1:
                circles.append([*trail[trail.index(target) :], target])
            elif target not in state:
                visit(target, [*trail, target])
        state[module] = 2

    for module in sorted(edges):
        if module not in state:
            visit(module, [module])
    assert not circles, circles


def test_the_checker_sees_wrong_imports() -> None:
    # The checks above would pass on an empty list; show that they read real imports.
    source = "from ..web import bp\nimport flask\n\ndef f():\n    from .. import cli\n"
    found = imports_in(source, "catalog.api.probe", is_package=False)
    assert {"catalog.web", "catalog.web.bp", "catalog.cli", "flask"} <= found
    assert LAYERS[unit_of("catalog.web.bp")] >= LAYERS["catalog.api"]
    assert unit_of("catalog.cli") == "catalog.cli" and unit_of("flask") is None
    core = imports_in("from ..services import ingest\n", "catalog.hashing.x", is_package=False)
    assert LAYERS[unit_of(next(iter(core)))] > LAYERS["catalog.hashing"]
    typed = "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .media import M\n"
    assert "catalog.models.media" in imports_in(typed, "catalog.models.x", is_package=False)
    assert not imports_in(typed, "catalog.models.x", is_package=False, runtime_only=True) & {
        "catalog.models.media"
    }
