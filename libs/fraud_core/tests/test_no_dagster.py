"""fraud_core must stay importable by services that do not run Dagster."""

import ast
import subprocess
import sys
from pathlib import Path

import fraud_core

PACKAGE_DIR = Path(fraud_core.__file__).parent


def _modules() -> list[str]:
    return sorted(
        "fraud_core" + ("." + ".".join(p.relative_to(PACKAGE_DIR).with_suffix("").parts))
        if p.name != "__init__.py"
        else "fraud_core"
        for p in PACKAGE_DIR.rglob("*.py")
    )


def test_no_module_imports_dagster_in_source() -> None:
    offenders = []
    for path in PACKAGE_DIR.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [
                f"{path.name}: {n}" for n in names if n.split(".")[0].startswith("dagster")
            ]
    assert offenders == []


def test_importing_every_module_loads_no_dagster() -> None:
    modules = _modules()
    assert "fraud_core" in modules
    code = (
        "import importlib, sys\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0].startswith('dagster'))\n"
        "print(bad); sys.exit(1 if bad else 0)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
