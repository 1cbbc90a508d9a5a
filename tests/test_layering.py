"""The layering of docs/architecture.md ("Layers and imports"), checked on every import of ours.

Function-level imports count too: a lazy import is still a dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: package -> the packages of ours it may import (its own always).
MAY_IMPORT = {
    "ops": set(),
    "resources": {"ops"},
    "assets": {"ops", "resources"},
    "orchestration": {"assets", "resources", "ops"},
    "serving": {"ops", "resources"},
}


def imports_of(path: Path) -> list[tuple[int, str]]:
    out = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append((node.lineno, node.module))
    return out


@pytest.mark.parametrize("package", sorted(MAY_IMPORT))
def test_each_package_imports_only_the_layers_below_it(package):
    wrong = []
    for path in sorted((ROOT / package).rglob("*.py")):
        for line, module in imports_of(path):
            top = module.split(".")[0]
            if top in MAY_IMPORT and top != package and top not in MAY_IMPORT[package]:
                wrong.append(f"{path.relative_to(ROOT)}:{line} imports {module}")
            if package == "ops" and top == "dagster":
                wrong.append(f"{path.relative_to(ROOT)}:{line} imports dagster (ops is pure logic)")
    assert not wrong, "\n".join(wrong)


def test_the_check_sees_a_violation(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from serving.app import create_app\n")
    assert imports_of(bad) == [(2, "serving.app")]
