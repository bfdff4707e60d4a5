"""The layer rule of docs/architecture.md, enforced: nothing imports a layer above it.

Every ``import``/``from ... import`` in perfwatch/ and app/ counts, lazy ones inside functions
included: a lazy import of a higher layer is still a dependency, only a hidden one.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Lowest first. A module belongs to the first layer whose prefix it starts with.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("domain", ("perfwatch.domain",)),
    ("measurement", ("perfwatch.measure", "perfwatch.suites", "perfwatch.collectors")),
    ("store", ("perfwatch.store",)),
    ("analysis", ("perfwatch.analysis", "perfwatch.detect", "perfwatch.asvio")),
    ("alerts", ("perfwatch.alerts",)),
    ("interfaces", ("perfwatch.cli", "perfwatch.commands", "perfwatch.api", "perfwatch.__main__", "app")),
)
# Within measurement: a suite says what to run, never how it is measured.
FORBIDDEN = {"perfwatch.suites": ("perfwatch.collectors", "perfwatch.measure")}
RANK = {name: i for i, (name, _) in enumerate(LAYERS)}


def layer_of(module: str) -> str | None:
    for name, prefixes in LAYERS:
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return name
    return None  # the package root (perfwatch/__init__.py: the version) sits below everything


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[0] == "app":
        return "app." + ".".join(parts[1:]) if len(parts) > 1 else "app"
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def imports_of(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
            # "from perfwatch import x": x is a module of its own
            if node.module == "perfwatch":
                found += [(node.lineno, f"perfwatch.{a.name}") for a in node.names]
    return [(line, m) for line, m in found if m == "perfwatch" or m.startswith("perfwatch.")]


def sources() -> list[Path]:
    return sorted([*ROOT.joinpath("perfwatch").rglob("*.py"), *ROOT.joinpath("app").rglob("*.py")])


def violations() -> list[str]:
    out = []
    for path in sources():
        me = module_name(path)
        mine = layer_of(me)
        for line, target in imports_of(path):
            theirs = layer_of(target)
            where = f"{path.relative_to(ROOT)}:{line} ({me}, {mine}) imports {target}"
            if mine is None and theirs is not None:
                out.append(f"{where} ({theirs}): the package root imports nothing")
            elif mine and theirs and RANK[theirs] > RANK[mine]:
                out.append(f"{where} ({theirs}), a higher layer")
            for low, banned in FORBIDDEN.items():
                if (me == low or me.startswith(low + ".")) and target.startswith(banned):
                    out.append(f"{where}: {low} must not import {banned}")
    return out


def test_every_module_has_a_layer():
    homeless = [module_name(p) for p in sources() if layer_of(module_name(p)) is None and module_name(p) != "perfwatch"]
    assert not homeless, f"modules outside every layer (add them to LAYERS and docs/architecture.md): {homeless}"


def test_nothing_imports_a_layer_above_it():
    bad = violations()
    assert not bad, "layer rule broken (docs/architecture.md):\n" + "\n".join(bad)


def test_the_checker_sees_a_violation(tmp_path, monkeypatch):
    # The rule must be able to fail: a store module importing the alerts layer is caught.
    fake = ROOT / "perfwatch" / "store" / "_layer_probe.py"
    monkeypatch.setattr(__import__(__name__), "sources", lambda: [fake])
    fake_text = "def f():\n    from perfwatch.alerts import channels\n"
    original = Path.read_text
    monkeypatch.setattr(Path, "read_text", lambda self, *a, **k: fake_text if self == fake else original(self, *a, **k))
    assert any("perfwatch.alerts" in v for v in violations())


@pytest.mark.parametrize("suite_file", sorted(p.name for p in (ROOT / "perfwatch" / "suites").glob("*.py")))
def test_suites_import_no_collector(suite_file):
    path = ROOT / "perfwatch" / "suites" / suite_file
    bad = [m for _, m in imports_of(path) if m.startswith(("perfwatch.collectors", "perfwatch.measure"))]
    assert not bad, f"{suite_file} imports {bad}: a suite declares what it needs as data"


def test_module_names_are_unique():
    # Commands are named after the commands and suites after the suites (the names users type),
    # so those two folders may echo a library module's name; the library's own names are unique.
    names: dict[str, list[str]] = {}
    for p in ROOT.joinpath("perfwatch").rglob("*.py"):
        if p.name not in ("__init__.py", "__main__.py") and p.parent.name not in ("commands", "suites"):
            names.setdefault(p.stem, []).append(str(p.relative_to(ROOT)))
    dupes = {k: v for k, v in names.items() if len(v) > 1}
    assert not dupes, f"one name, two modules: {dupes}"
