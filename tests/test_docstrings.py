"""Every module path a docstring or comment names exists: `harness/x/y.py` files and dotted
`harness.x.y` modules (or a module's top-level name, `harness.x.y.Name`). A moved module
leaves its old name in prose that no test reads; this test reads it."""

import ast
import re
from pathlib import Path

from harness.spec.extensions import GROUPS
from harness.starter import STARTER

ROOT = Path(__file__).resolve().parents[1]
FILE = re.compile(r"\b((?:harness|pytest_llama|benchmarks|tests|templates|specs)/[\w/]+\.(?:py|j2|yaml|json))\b")
DOTTED = re.compile(r"\b((?:harness|pytest_llama)(?:\.\w+)+)")


def _sources():
    for top in ("harness", "pytest_llama"):
        for path in sorted((ROOT / top).rglob("*")):
            if path.suffix in (".py", ".j2") and "__pycache__" not in path.parts:
                yield path


def _module_names(path: Path) -> set[str]:
    """Top-level names a module defines or imports."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            for target in (node.targets if isinstance(node, ast.Assign) else [node.target]):
                if isinstance(target, ast.Name):
                    names.add(target.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
    return names


def _dotted_exists(name: str) -> bool:
    if name in ("harness.templates", "harness.specs"):   # templates/, specs/: packaged under these names (package-dir)
        return (ROOT / name.split(".")[1]).is_dir()
    parts = name.split(".")
    for cut in range(len(parts), 0, -1):
        base = ROOT.joinpath(*parts[:cut])
        rest = parts[cut:]
        if base.with_suffix(".py").is_file():
            module = base.with_suffix(".py")
        elif (base / "__init__.py").is_file():
            module = base / "__init__.py"
        else:
            continue
        # a module, or a module's top-level name (then maybe an attribute of it)
        return not rest or rest[0] in _module_names(module)
    return False


def _templates_named(path: str) -> bool:
    """templates/ is packaged as harness.templates; a path under it names that folder's file."""
    return (ROOT / path).exists()



def test_every_module_path_in_the_library_exists():
    missing = []
    for path in _sources():
        text = path.read_text(encoding="utf-8")
        where = path.relative_to(ROOT)
        for match in FILE.finditer(text):
            if match.group(1) in STARTER:    # files init writes into a user's repository, not ours
                continue
            if not _templates_named(match.group(1)):
                missing.append(f"{where}: {match.group(1)}")
        for match in DOTTED.finditer(text):
            name = match.group(1).rstrip(".")
            if name in GROUPS:      # entry point groups (harness/spec/extensions.py), named like modules
                continue
            if not _dotted_exists(name):
                missing.append(f"{where}: {name}")
    assert not missing, "names of modules that do not exist:\n" + "\n".join(sorted(set(missing)))


def test_the_check_finds_a_stale_name():
    assert not _dotted_exists("harness.progress") and not _templates_named("harness/scorers.py")
    assert _dotted_exists("harness.results.progress.Progress") and _dotted_exists("harness.kinds.registry")
