"""``core`` is the lowest layer: none of its modules imports another smartcustoms package."""

from __future__ import annotations

import ast
from pathlib import Path

import smartcustoms.core

CORE = Path(smartcustoms.core.__file__).parent


def _imports(path: Path) -> set[str]:
    """Every module an ``import`` or ``from ... import`` of ``path`` names (relative ones resolved in core)."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"), str(path))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: inside smartcustoms.core (or above it, with more dots)
                base = ["smartcustoms", "core"][: 3 - node.level]
                out.add(".".join([*base, node.module] if node.module else base))
            elif node.module:
                out.add(node.module)
    return out


def test_core_imports_nothing_from_other_smartcustoms_packages():
    modules = sorted(CORE.rglob("*.py"))
    assert len(modules) >= 8
    above = {f"{p.relative_to(CORE)}: {name}" for p in modules for name in _imports(p)
             if name.split(".")[0] == "smartcustoms" and not (name + ".").startswith("smartcustoms.core.")
             and name != "smartcustoms"}
    assert above == set()


def test_core_does_not_import_the_package_root_for_its_neighbours():
    # ``import smartcustoms`` then ``smartcustoms.<domain>`` (or pkgutil over the package) would hide an upward import
    for p in sorted(CORE.rglob("*.py")):
        assert "smartcustoms" not in {n for n in _imports(p) if "." not in n}, p
        assert "importlib" not in _imports(p) and "pkgutil" not in _imports(p), p
