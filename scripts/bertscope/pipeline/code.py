"""Code digests: which package modules a step script runs, found from its imports, and their sha256.

Snakemake reruns a job when its script changes, but never when a module the script imports does. Each rule
therefore passes :func:`code_digest` of its script as a ``params`` value: a change to any module the script reaches
through its imports (and theirs, and every package ``__init__`` on the way) reruns the rule's jobs, and a change to
any other module reruns none of them. A digest of the files' contents, not their paths, so that a project copied or
moved elsewhere has nothing to rerun.
"""

from __future__ import annotations

import ast
import hashlib
from functools import cache
from pathlib import Path

PACKAGE = "bertscope"
SCRIPTS = Path(__file__).resolve().parents[2]
"""The folder holding the step scripts and the package."""


def _module_file(dotted: str) -> Path | None:
    """The file of a package module (``bertscope.tables.io`` → ``bertscope/tables/io.py``), or None if there is none."""
    base = SCRIPTS.joinpath(*dotted.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _with_parents(dotted: str) -> list[str]:
    """A module and the packages above it, whose ``__init__`` runs when it is imported."""
    parts = dotted.split(".")
    return [".".join(parts[: end + 1]) for end in range(len(parts))]


@cache
def imported_modules(path: Path) -> frozenset[str]:
    """The package modules a file imports anywhere in it (module-level or inside functions), by dotted name.

    ``from bertscope.tables import io`` names the submodule ``bertscope.tables.io``; ``from bertscope.tables.io
    import write_table`` names ``bertscope.tables.io``. Parents are included.

    Args:
        path: a Python file.

    Returns:
        The dotted names of the package modules it imports that exist as files.
    """
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module.split(".")[0] != PACKAGE:
                continue
            found.update(_with_parents(node.module))
            found.update(
                f"{node.module}.{alias.name}" for alias in node.names if _module_file(f"{node.module}.{alias.name}")
            )
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == PACKAGE:
                    found.update(_with_parents(alias.name))
    return frozenset(name for name in found if _module_file(name))


def reachable_modules(script: str | Path) -> list[str]:
    """Every package module a script runs: its imports, theirs, and so on, sorted by dotted name.

    Args:
        script: a step script's path.

    Returns:
        The dotted names of the package modules (``bertscope``, ``bertscope.pipeline.step``, ...).
    """
    seen: set[str] = set()
    pending = set(imported_modules(Path(script).resolve()))
    while pending:
        module = pending.pop()
        if module not in seen:
            seen.add(module)
            pending |= imported_modules(_module_file(module)) - seen
    return sorted(seen)


def code_digest(script: str | Path) -> str:
    """sha256 of the package modules a step script runs (:func:`reachable_modules`), for its rule's ``params``.

    Args:
        script: a step script's path.

    Returns:
        The hex digest over each module's dotted name and contents.
    """
    digest = hashlib.sha256()
    for module in reachable_modules(script):
        digest.update(module.encode() + b"\0" + _module_file(module).read_bytes())
    return digest.hexdigest()
