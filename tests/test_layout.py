"""The package shows the pipeline: imports go one way, down the stages, with no circle.

Every import of a voice_skill module is read from the source (at module level, inside
functions and under TYPE_CHECKING alike), so a lazy import cannot hide a circle.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE_DIR = Path(__file__).resolve().parent.parent / "voice_skill"

# The layers, lowest first: a module imports only from its own layer or lower ones.
# "ground" is every root module but session; session is the one loop that wires the stages.
RANKS = {"ground": 0, "models": 1, "dialogue": 1, "hearing": 2, "speaking": 3, "session": 4,
         "front": 5, "dev": 5}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE_DIR.rglob("*.py"))}


def layer(module: str) -> str:
    if module == "voice_skill.__main__":  # `python -m voice_skill`: the command line's door
        return "front"
    parts = module.split(".")
    if len(parts) > 1 and parts[1] in RANKS and parts[1] != "ground":
        return parts[1]
    return "ground"


def resolve(name: str) -> str | None:
    """The voice_skill module `name` stands for (a module, or the module owning a name)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def imports(module: str) -> list[tuple[str, str | None, int]]:
    """(module imported, the name taken from it or None, line) for every voice_skill import."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(a.name, None, node.lineno) for a in node.names
                      if a.name.split(".")[0] == "voice_skill"]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            if base.split(".")[0] != "voice_skill":
                continue
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                if sub in MODULES:  # `from voice_skill.hearing import audio`
                    found.append((sub, None, node.lineno))
                else:
                    found.append((base, alias.name, node.lineno))
    return found


def graph() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {m: set() for m in MODULES}
    for module in MODULES:
        for target, _name, _line in imports(module):
            owner = resolve(target)
            if owner and owner != module:
                edges[module].add(owner)
    return edges


def test_every_module_is_read() -> None:
    assert len(MODULES) > 40 and "voice_skill.hearing.audio" in MODULES


def test_there_is_no_import_circle() -> None:
    edges = graph()
    done: set[str] = set()
    path: list[str] = []

    def visit(module: str) -> None:
        if module in path:
            circle = [*path[path.index(module):], module]
            pytest.fail("import circle: " + " -> ".join(circle))
        if module in done:
            return
        path.append(module)
        for target in sorted(edges[module]):
            # a package imports its own __init__ first; that is no circle
            if not module.startswith(target + "."):
                visit(target)
        path.pop()
        done.add(module)

    for module in sorted(edges):
        visit(module)


def test_imports_go_down_the_stages() -> None:
    upward = [f"{m} ({layer(m)}) imports {t} ({layer(t)})"
              for m, targets in graph().items() for t in targets
              if RANKS[layer(t)] > RANKS[layer(m)]
              and not (layer(m) == "front" and layer(t) == "dev")]  # the dev commands, when present
    assert upward == []


def test_no_module_takes_another_modules_private_name() -> None:
    taken = [f"{m}:{line} takes {name} from {t}" for m in MODULES
             for t, name, line in imports(m)
             if name and name.startswith("_") and not name.startswith("__") and t != m]
    taken += [f"{m}:{line} imports private module {t}" for m in MODULES
              for t, _name, line in imports(m)
              if any(p.startswith("_") and not p.startswith("__") for p in t.split("."))]
    assert taken == []


def test_the_wheel_lists_every_stage_and_leaves_dev_out() -> None:
    pyproject = (PACKAGE_DIR.parent / "pyproject.toml").read_text()
    for package in {m for m, p in MODULES.items() if p.name == "__init__.py"}:
        listed = f'"{package}"' in pyproject
        assert listed != package.startswith("voice_skill.dev"), package


@pytest.mark.parametrize("package", ["voice_skill", "voice_skill.hearing", "voice_skill.dialogue",
                                     "voice_skill.speaking", "voice_skill.models", "voice_skill.front",
                                     "voice_skill.dev"])
def test_each_module_imports_alone(package: str) -> None:
    """Each module of the package in a fresh interpreter of its own: none leans on another
    having been imported first (one interpreter per package, a fresh one per module)."""
    modules = sorted(m for m in MODULES if m == package or m.rpartition(".")[0] == package)
    if package == "voice_skill":
        modules = [m for m in modules if layer(m) in ("ground", "session")]
    modules = [m for m in modules if m != "voice_skill.__main__"]  # runs the command
    script = (
        "import subprocess, sys\n"
        "bad = []\n"
        "for m in sys.argv[1:]:\n"
        "    r = subprocess.run([sys.executable, '-c', f'import {m}'], capture_output=True, text=True)\n"
        "    if r.returncode:\n"
        "        bad.append(m + ': ' + r.stderr.strip().splitlines()[-1])\n"
        "print('\\n'.join(bad)); sys.exit(1 if bad else 0)\n"
    )
    result = subprocess.run([sys.executable, "-c", script, *modules], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
