"""studio/core must stay Qt-free: the CLI, workers and core tests run without Qt."""

import ast
import subprocess
import sys
from pathlib import Path

CORE = Path(__file__).resolve().parents[2] / "studio" / "core"
FORBIDDEN = ("PySide6", "qasync", "studio.ui", "shiboken6")


def test_no_core_module_imports_qt_or_ui():
    offenders = []
    for path in CORE.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                if any(name == f or name.startswith(f + ".") for f in FORBIDDEN):
                    offenders.append(f"{path.relative_to(CORE.parent.parent)}:{node.lineno} imports {name}")
    assert not offenders, "\n".join(offenders)


def test_importing_core_and_cli_loads_no_qt():
    code = (
        "import sys, importlib, pkgutil, studio.core, studio.cli\n"
        "for m in pkgutil.walk_packages(studio.core.__path__, 'studio.core.'):\n"
        "    if not m.name.endswith('.worker'):\n"
        "        importlib.import_module(m.name)\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('PySide6', 'qasync', 'shiboken6') or m.startswith('studio.ui')]\n"
        "heavy = [m for m in ('torch', 'transformers') if m in sys.modules]\n"
        "print(bad, heavy); sys.exit(1 if bad or heavy else 0)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_import_linter_contract_holds():
    """The same rule as import-linter states it (pyproject.toml), so `lint-imports` agrees."""
    import shutil

    import pytest

    linter = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    if linter is None:
        pytest.skip("import-linter is not installed (it comes with the [test] extra)")
    result = subprocess.run([linter], capture_output=True, text=True, timeout=120, cwd=CORE.parents[1])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 kept, 0 broken" in result.stdout  # Qt-free, and the layers of studio/core
