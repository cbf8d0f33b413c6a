"""The dependency picture holds: a kernel that knows no HTTP, then journeys, slips,
coaching, dashboards and api, each importing only what sits below it (docs/architecture.md)."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Lower first. Everything may read settings; nothing may import a package above its own.
LAYERS = ["settings", "core", "journeys", "slips", "coaching", "dashboards", "api"]
RANK = {name: rank for rank, name in enumerate(LAYERS)}
PACKAGES = LAYERS[1:]


def _imports(path: Path) -> list[tuple[int, str]]:
    """Every absolute import in a module (also those inside functions), with its line."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found += [(node.lineno, node.module)]
            # ``from journeys import hooks`` names a module too.
            found += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
    return found


def _modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def test_no_package_imports_one_above_it() -> None:
    wrong = []
    for package in PACKAGES:
        for path in _modules(package):
            for line, name in _imports(path):
                top = name.split(".")[0]
                if top in RANK and RANK[top] > RANK[package]:
                    wrong.append(f"{path.relative_to(ROOT)}:{line} imports {name}")
    assert wrong == [], "imports must only go downwards:\n" + "\n".join(wrong)


def test_pages_do_not_reach_into_controllers() -> None:
    wrong = [
        f"{path.relative_to(ROOT)}:{line} imports {name}"
        for path in _modules("api/pages")
        for line, name in _imports(path)
        if name.startswith("api.controllers")
    ]
    assert wrong == []


def test_the_checker_sees_an_upward_import(tmp_path: Path) -> None:
    """The rule above would catch a journeys module that imported coaching."""
    module = tmp_path / "bad.py"
    module.write_text("def f():\n    from coaching import outbox\n")
    assert (2, "coaching.outbox") in _imports(module)


def test_only_settings_reads_the_environment() -> None:
    wrong = [
        f"{path.relative_to(ROOT)}"
        for package in PACKAGES
        for path in _modules(package)
        if "os.environ" in path.read_text() or "os.getenv" in path.read_text()
    ]
    assert wrong == []


def test_workers_and_domain_modules_load_no_litestar() -> None:
    """In a fresh interpreter, import every module below api (and the worker entry point):
    Litestar must not come along."""
    script = """
import importlib, pkgutil, sys
names = ["coaching.worker"]
for package in ("core", "journeys", "slips", "coaching", "dashboards"):
    module = importlib.import_module(package)
    names += [m.name for m in pkgutil.walk_packages(module.__path__, package + ".")]
for name in names:
    importlib.import_module(name)
    if "litestar" in sys.modules:
        sys.exit(f"{name} loaded litestar")
print(len(names))
"""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr or result.stdout
    assert int(result.stdout) > 40  # every module was really imported
