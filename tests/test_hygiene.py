"""Workflow hygiene: lint-clean code, formatted Snakemake files, and the two environment files in step."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import yaml
from conftest import REPO

BIN = Path(sys.executable).parent


def pins(lines) -> dict[str, str]:
    found = {}
    for line in lines:
        match = re.fullmatch(r"\s*([A-Za-z0-9_.-]+)==([^\s#]+)\s*(#.*)?", line)
        if match:
            found[match.group(1).lower()] = match.group(2)
    return found


def test_environment_yml_pins_the_same_versions_as_requirements():
    requirements = pins((REPO / "requirements.txt").read_text().splitlines())
    environment = yaml.safe_load((REPO / "environment.yml").read_text())
    pip_section = next(item["pip"] for item in environment["dependencies"] if isinstance(item, dict))
    assert requirements, "requirements.txt pins nothing"
    assert pins(pip_section) == requirements


def test_python_is_ruff_clean():
    completed = subprocess.run([BIN / "ruff", "check", str(REPO)], capture_output=True, text=True)
    assert completed.returncode == 0, completed.stdout


def test_snakemake_files_are_snakefmt_formatted():
    files = [REPO / "Snakefile", *sorted((REPO / "workflow" / "rules").glob("*.smk"))]
    completed = subprocess.run([BIN / "snakefmt", "--check", *map(str, files)], capture_output=True, text=True)
    assert completed.returncode == 0, completed.stdout + completed.stderr


def package_imports(path: Path) -> set[str]:
    """The bertscope modules a file imports anywhere in it (file names, ``__init__.py`` for the package)."""
    import ast

    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "bertscope":
            parts = node.module.split(".")
            found.add(f"{parts[1]}.py" if len(parts) > 1 else "__init__.py")
        elif isinstance(node, ast.Import):
            found |= {f"{alias.name.split('.')[1]}.py" for alias in node.names if alias.name.startswith("bertscope.")}
    return found


def reachable_modules(script: Path) -> set[str]:
    """Every package module a step script runs: its own imports, theirs, and so on."""
    package = REPO / "scripts" / "bertscope"
    seen, pending = {"__init__.py"}, package_imports(script)
    while pending:
        module = pending.pop()
        if module not in seen:
            seen.add(module)
            pending |= package_imports(package / module)
    return seen


def declared_code(rules_text: str, name: str, constants: dict[str, list[str]]) -> tuple[str, set[str]]:
    """A rule's script and the modules its ``code=code_digest(...)`` names (with the two every step shares)."""
    body = re.search(rf"^(?:rule|checkpoint) {name}:\n(.*?)(?=^\S|\Z)", rules_text, flags=re.S | re.M).group(1)
    script = re.search(r'script:\s*"([^"]+)"', body).group(1)
    call = re.search(r"code=(code_digest\((.*?)\)|[A-Z_]+)", body, flags=re.S)
    modules = constants[call.group(1)] if call.group(2) is None else re.findall(r'"([\w.]+)"', call.group(2))
    return script, {"__init__.py", "step.py", *modules}


def test_each_rule_digests_exactly_the_package_modules_its_script_runs():
    texts = {path: path.read_text() for path in sorted((REPO / "workflow" / "rules").glob("*.smk"))}
    constants = {
        name: re.findall(r'"([\w.]+)"', args)
        for text in texts.values()
        for name, args in re.findall(r"^([A-Z_]+) = code_digest\((.*?)\)", text, flags=re.M | re.S)
    }
    checked = 0
    for path, text in texts.items():
        for name in re.findall(r"^(?:rule|checkpoint) (\w+):", text, flags=re.M):
            if "script:" not in text.split(f" {name}:", 1)[1].split("\nrule ", 1)[0]:
                continue
            script, declared = declared_code(text, name, constants)
            runs = reachable_modules((path.parent / script).resolve())
            assert declared == runs, f"rule {name}: digests {sorted(declared)}, its script runs {sorted(runs)}"
            checked += 1
    assert checked >= 11  # every rule with a script
