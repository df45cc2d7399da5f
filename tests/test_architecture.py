"""The house as drawn in docs/architecture.md: imports flow one way, from the entry points to
the services to the pure cores, with no circles, and the web and API packages never import
each other. Inside the services, each domain is a package ranked like the units, and one
domain uses another only through what that package's __init__.py exports. Read from the
source of every module under catalog/, so a new import against the direction fails here,
whether it sits at the top of a file or inside a function, or is made by name
(``importlib.import_module("catalog.web")``, ``__import__``) with a literal name."""

from __future__ import annotations

import ast
import importlib
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
    "catalog.netguard": 0,  # requests only to public addresses (captures, the deletion re-check)
    "catalog.tsa": 0,  # trusted timestamps (RFC 3161): asking for tokens, checking them
    "catalog.queue_format": 0,  # what the job queue may hold: plain JSON, never pickle
    "catalog.urls": 0,  # the canonical form of a post's URL, for matching
    "catalog.text": 1,  # reading text in media (OCR, subtitles); terms and queries for search
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
# The domains of the use cases (packages under catalog/services/), ranked the same way: a domain
# imports its own modules, the services' base (catalog/services/__init__.py: the errors) and
# domains of a lower rank, and those only by the names their __init__.py lists in __all__.
# Room is left for the next ones: text, watches and alerts, review, place and time, exchange.
DOMAINS: dict[str, int] = {
    "catalog.services.evidence": 1,  # the audit chain, its timestamps, clusters, provenance
    "catalog.services.people": 2,  # users, keys, browser sessions
    "catalog.services.records": 2,  # typed fields, named records, details, reading, editing
    "catalog.services.text": 3,  # what media say: text read and written, searched
    "catalog.services.media": 4,  # ingest, uploads, the index, search, compare
    "catalog.services.collection": 5,  # captures of post pages, the deletion re-check
    "catalog.services.reports": 6,  # provenance reports and their formats
    "catalog.services.custody": 6,  # verify what we hold, collect what was left behind
}
SERVICES = "catalog.services"
PURE = (
    "catalog.hashing",
    "catalog.index",
    "catalog.text",
    "catalog.netguard",
    "catalog.capture",
    "catalog.tsa",
    "catalog.queue_format",
    "catalog.urls",
)
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


# Calls that import a module named by a string: importlib.import_module and __import__.
BY_NAME = ("import_module", "__import__")


def imported_by_name(node: ast.AST, package: str) -> str | None:
    """Return the module a call imports by a literal name (``import_module("catalog.web")``,
    ``import_module(".web", __package__)``, ``__import__("catalog.web")``), else None."""
    if not isinstance(node, ast.Call) or not node.args:
        return None
    func = node.func
    called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
    first = node.args[0]
    if called not in BY_NAME or not isinstance(first, ast.Constant):
        return None
    if not isinstance(first.value, str):
        return None
    text = first.value
    if not text.startswith("."):
        return text
    # A relative name counts from the package the call names, taken to be the module's own.
    dots = len(text) - len(text.lstrip("."))
    parts = package.split(".")
    base = parts[: len(parts) - dots + 1]
    return ".".join(base + ([text[dots:]] if text[dots:] else []))


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
        elif (by_name := imported_by_name(node, package)) is not None:
            found.add(by_name)
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


def import_statements(source: str, name: str, *, is_package: bool) -> list[tuple[str, list[str]]]:
    """Return each import of the source as (absolute module, the names taken from it)."""
    package = name if is_package else name.rsplit(".", 1)[0]
    found: list[tuple[str, list[str]]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.extend((alias.name, []) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = parts[: len(parts) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.append((target, [alias.name for alias in node.names]))
        elif (by_name := imported_by_name(node, package)) is not None:
            found.append((by_name, []))
    return found


def domain_of(module: str) -> str | None:
    """Return the services domain a module belongs to (None outside the domains)."""
    parts = module.split(".")
    domain = ".".join(parts[:3])
    return domain if len(parts) >= 3 and parts[:2] == ["catalog", "services"] else None


def exported(domain: str) -> set[str]:
    """Return the names a domain's __init__.py lists in __all__."""
    path = CATALOG.parent.joinpath(*domain.split("."), "__init__.py")
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets
        ):
            return set(ast.literal_eval(node.value))
    return set()


def domain_faults(source: str, name: str, *, is_package: bool) -> list[str]:
    """Name each import of a services module that breaks the domains' rules."""
    here = domain_of(name)
    faults = []
    for target, names in import_statements(source, name, is_package=is_package):
        there = domain_of(target)
        if target == SERVICES:  # the base: only errors and helpers, never a domain
            domains = [f"{SERVICES}.{n}" for n in names if f"{SERVICES}.{n}" in DOMAINS]
            faults += [f"{d} taken from {SERVICES} (import the domain itself)" for d in domains]
            continue
        if there is None or there == here:
            continue
        if there not in DOMAINS:
            faults.append(f"{target}: not a ranked domain")
        elif here is None:
            faults.append(f"{target}: the base {SERVICES} imports no domain")
        elif DOMAINS[there] >= DOMAINS[here]:
            faults.append(f"{target} ({there}, rank {DOMAINS[there]}) against the direction")
        elif target != there:
            faults.append(f"{target}: through a module, not the package {there}")
        else:
            faults += [
                f"{there}.{n}: not in its __all__" for n in names if n not in exported(there)
            ]
    return faults


def service_sources() -> list[Path]:
    return [p for p in sources() if module_name(p).startswith(SERVICES)]


def test_every_service_module_sits_in_a_ranked_domain() -> None:
    loose = [
        module_name(p)
        for p in service_sources()
        if module_name(p) != SERVICES and domain_of(module_name(p)) not in DOMAINS
    ]
    assert not loose, f"services outside a ranked domain: {loose}"
    packages = {f"{SERVICES}.{p.name}" for p in (CATALOG / "services").iterdir() if p.is_dir()}
    assert packages - {f"{SERVICES}.__pycache__"} == set(DOMAINS)


@pytest.mark.parametrize(
    "path", service_sources(), ids=lambda p: str(p.relative_to(CATALOG.parent))
)
def test_domains_use_each_other_through_their_packages(path: Path) -> None:
    name = module_name(path)
    faults = domain_faults(path.read_text(), name, is_package=path.name == "__init__.py")
    assert not faults, f"{name}: {faults}"


@pytest.mark.parametrize("domain", sorted(DOMAINS))
def test_each_domain_exports_what_its_all_lists(domain: str) -> None:
    module = importlib.import_module(domain)
    names = exported(domain)
    assert names, f"{domain} lists nothing in __all__"
    assert not [n for n in names if not hasattr(module, n)]
    assert sorted(module.__all__) == sorted(names)


def test_the_domain_checker_sees_wrong_imports() -> None:
    here = "catalog.services.media.probe"
    deep = "from ..records.details import IngestDetails\n"
    assert domain_faults(deep, here, is_package=False) == [
        "catalog.services.records.details: through a module, not the package "
        "catalog.services.records"
    ]
    hidden = "from ..records import _named\n"
    assert domain_faults(hidden, here, is_package=False) == [
        "catalog.services.records._named: not in its __all__"
    ]
    upward = "def f():\n    from ..collection import run_capture\n"
    assert "against the direction" in domain_faults(upward, here, is_package=False)[0]
    sideways = "from ..people import create_user\n"
    assert domain_faults(sideways, "catalog.services.records.probe", is_package=False)
    assert domain_faults("from .media import ingest_bytes\n", SERVICES, is_package=True)
    assert domain_faults("from .. import media\n", here, is_package=False)
    fine = "from .. import Invalid\nfrom ..records import IngestDetails\nfrom .search import x\n"
    assert domain_faults(fine, here, is_package=False) == []


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


def test_the_checker_sees_imports_made_by_name() -> None:
    # A module named by a string is imported all the same: it is ranked like any other.
    for call in (
        'importlib.import_module("catalog.web")',
        'import_module("catalog.web.media")',
        '__import__("catalog.web")',
        'importlib.import_module("..web", __package__)',
    ):
        source = f"import importlib\n\ndef f():\n    return {call}\n"
        found = imports_in(source, "catalog.api.probe", is_package=False)
        web = {m for m in found if unit_of(m) == "catalog.web"}
        assert web, (call, found)
        assert all(LAYERS[unit_of(m)] >= LAYERS["catalog.api"] for m in web)
    # A name made at run time cannot be read, and a call of another kind is no import.
    dynamic = 'import importlib\nname = "catalog.web"\nimportlib.import_module(name)\n'
    assert imports_in(dynamic, "catalog.api.probe", is_package=False) == {"importlib"}
    assert imports_in('print("catalog.web")\n', "catalog.api.probe", is_package=False) == set()
    # The domains' rules see it too.
    deep = 'import importlib\nimportlib.import_module("catalog.services.records.details")\n'
    assert domain_faults(deep, "catalog.services.media.probe", is_package=False) == [
        "catalog.services.records.details: through a module, not the package "
        "catalog.services.records"
    ]
