"""The import rules of docs/architecture.md, checked on every module's imports (module-level and inside
functions alike), read with `ast` so that nothing is imported to check them."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "padim_edge"
TORCH_SIDE = ("padim_edge.model", "padim_edge.export", "padim_edge.fit", "padim_edge.evaluate", "padim_edge.verify")
DEVICE_PACKAGES = ("runtime", "sinks", "live")


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path, root: Path = ROOT) -> list[str]:
    """Every module `path` imports, absolute names (relative imports resolved against its package)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    name = module_name(path, root)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                found.append(f"{base}.{node.module}" if node.module else base)
            else:
                found.append(node.module or "")
    return found


def within(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def modules(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*.py"))


def violations(folders: tuple[str, ...], forbidden: tuple[str, ...]) -> list[str]:
    return [
        f"{path.relative_to(ROOT)} imports {name}"
        for folder in folders
        for path in modules(PACKAGE / folder)
        for name in imports(path)
        if within(name, forbidden)
    ]


def test_the_checker_sees_imports_inside_functions(tmp_path: Path) -> None:
    source = tmp_path / "padim_edge" / "runtime" / "x.py"
    source.parent.mkdir(parents=True)
    source.write_text("def f():\n    import torch\n    from ..model import graph\n    from . import y\n")
    names = imports(source, tmp_path)
    assert names == ["torch", "padim_edge.model", "padim_edge.runtime"]


@pytest.mark.parametrize("folder", DEVICE_PACKAGES)
def test_device_packages_never_import_the_torch_side_or_serving(folder: str) -> None:
    forbidden = (*TORCH_SIDE, "padim_edge.serving", "padim_edge.report", "torch", "benchmarks")
    assert violations((folder,), forbidden) == []


def test_runtime_never_imports_what_builds_on_it() -> None:
    assert violations(("runtime",), ("padim_edge.sinks", "padim_edge.live", "padim_edge.commands")) == []


def test_engine_and_accel_never_import_torch() -> None:
    assert violations(("engine", "accel"), (*TORCH_SIDE, "torch")) == []


def test_contract_imports_only_the_standard_library_numpy_and_pydantic() -> None:
    allowed = set(sys.stdlib_module_names) | {"numpy", "pydantic", "padim_edge"}
    found = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in modules(PACKAGE / "contract")
        for name in imports(path)
        if name.split(".")[0] not in allowed
        or (name.startswith("padim_edge") and not within(name, ("padim_edge.contract", "padim_edge.errors")))
    ]
    assert found == []


def test_nothing_imports_benchmarks() -> None:
    found = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in [*modules(PACKAGE), *modules(ROOT / "tests")]
        for name in imports(path)
        if within(name, ("benchmarks",))
    ]
    assert found == []


def test_no_test_imports_a_conftest() -> None:
    """Two conftest modules (tests/, tests/serving/) make `from conftest import` depend on collection order."""
    found = [str(p.relative_to(ROOT)) for p in modules(ROOT / "tests") if "conftest" in imports(p)]
    assert found == []
