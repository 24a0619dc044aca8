"""The CBEC hot path runs compiled (setup.py): every compiled module loads from an extension as new as its source.

A stale extension would shadow an edited ``.py`` silently; ``make install`` (run by ``make test``) rebuilds.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _compiled_modules() -> list[str]:
    """The COMPILED tuple of setup.py, read without running it."""
    tree = ast.parse((ROOT / "setup.py").read_text("utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "COMPILED" for t in node.targets):
            return list(ast.literal_eval(node.value))
    raise AssertionError("setup.py has no COMPILED tuple")


@pytest.mark.parametrize("name", _compiled_modules())
def test_module_runs_from_a_fresh_extension(name: str) -> None:
    mod = importlib.import_module(name)
    source = ROOT / "src" / (name.replace(".", "/") + ".py")
    assert source.is_file(), f"{source} is listed in setup.py but missing"
    loaded = Path(mod.__file__)
    assert loaded.suffix == ".so", f"{name} runs uncompiled from {loaded}: run `make install`"
    assert loaded.stat().st_mtime >= source.stat().st_mtime, (
        f"{loaded.name} is older than {source.name}: the edit is not running; run `make install`")
