"""docs/ARCHITECTURE.md cannot drift from the code: every module, package, class or function it
names exists, and every package and root module of ``tpf`` is named there."""

from __future__ import annotations

import ast
import re
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DOC = REPO_ROOT / "docs" / "ARCHITECTURE.md"
DOTTED = re.compile(r"\btpf(?:\.[A-Za-z_][A-Za-z0-9_]*)+")
PATHS = re.compile(r"\btpf/[A-Za-z0-9_/]+(?:\.py|/)")


def _module_file(parts: list[str]) -> Path | None:
    base = REPO_ROOT.joinpath(*parts)
    if (base / "__init__.py").is_file():
        return base / "__init__.py"
    if base.with_suffix(".py").is_file():
        return base.with_suffix(".py")
    return None


def _defines(source_file: Path, name: str) -> bool:
    """``name`` is a top-level def, class, assignment or import of the module."""
    tree = ast.parse(source_file.read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name == name:
            return True
        if isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Name) and t.id == name for t in targets):
                return True
        if isinstance(node, (ast.Import, ast.ImportFrom)) and any(
                (alias.asname or alias.name.split(".")[-1]) == name for alias in node.names):
            return True
        if isinstance(node, ast.ClassDef) and any(
                isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and item.name == name
                for item in node.body):
            return True
    return False


def _resolves(dotted: str) -> bool:
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        module = _module_file(parts[:cut])
        if module is None:
            continue
        rest = parts[cut:]
        if not rest:
            return True
        # a name of the module, or a method of one of its classes (``Router.decide``)
        return all(_defines(module, name) for name in rest[:2])
    return False


def test_every_name_in_the_architecture_doc_exists():
    text = DOC.read_text(encoding="utf-8")
    missing = sorted({name for name in DOTTED.findall(text) if not _resolves(name)})
    missing += sorted({path for path in PATHS.findall(text)
                       if not (REPO_ROOT / path).exists() and "*" not in path})
    assert not missing, f"docs/ARCHITECTURE.md names what the code does not have: {missing}"


def test_every_package_and_root_module_is_named_in_the_architecture_doc():
    text = DOC.read_text(encoding="utf-8")
    tpf = REPO_ROOT / "tpf"
    named = set(DOTTED.findall(text)) | {p.rstrip("/").removesuffix(".py").replace("/", ".")
                                          for p in PATHS.findall(text)}
    wanted = {f"tpf.{p.parent.name}" for p in tpf.glob("*/__init__.py")}
    wanted |= {f"tpf.{p.stem}" for p in tpf.glob("*.py") if p.stem not in {"__init__", "__main__"}}
    unnamed = sorted(name for name in wanted if not any(n == name or n.startswith(name + ".")
                                                        for n in named))
    assert not unnamed, f"docs/ARCHITECTURE.md does not name these parts of tpf: {unnamed}"
