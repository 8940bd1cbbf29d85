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
