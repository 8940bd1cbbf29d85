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


def test_no_rule_file_names_a_python_file():
    """Scripts are named by step (step_script), code digests come from the scripts' imports (step_code)."""
    for path in [REPO / "Snakefile", *sorted((REPO / "workflow" / "rules").glob("*.smk"))]:
        assert not re.search(r"\w\.py\b", path.read_text()), f"{path.name} names a .py file"


def test_each_rule_digests_the_code_of_its_own_script():
    checked = 0
    for path in sorted((REPO / "workflow" / "rules").glob("*.smk")):
        text = path.read_text()
        for name, body in re.findall(
            r"^\s*(?:rule|checkpoint) (\w+):\n(.*?)(?=^\s*(?:rule|checkpoint) |\Z)", text, re.S | re.M
        ):
            scripts = re.findall(r'step_script\("(\w+)"\)', body)
            if not scripts:
                continue
            assert re.findall(r'code=step_code\("(\w+)"\)', body) == scripts, f"rule {name}"
            assert (REPO / "scripts" / f"{scripts[0]}.py").is_file(), f"rule {name}"
            checked += 1
    assert checked >= 15  # every rule with a script


def rule_bodies() -> dict[str, str]:
    """Every rule and checkpoint of workflow/rules/*.smk: name → the text of its body."""
    bodies = {}
    for path in sorted((REPO / "workflow" / "rules").glob("*.smk")):
        pattern = r"^\s*(?:rule|checkpoint) (\w+):\n(.*?)(?=^\s*(?:rule|checkpoint) |\Z)"
        bodies.update(re.findall(pattern, path.read_text(), re.S | re.M))
    return bodies


def test_every_rule_that_runs_something_has_a_log_and_a_benchmark():
    bodies = rule_bodies()
    running = {name: body for name, body in bodies.items() if re.search(r"^\s*(script|shell|run):", body, re.M)}
    assert len(running) >= 15 and set(running) == set(bodies)  # every rule but the Snakefile's `all`
    lacking = {
        name: [field for field in ("log", "benchmark") if not re.search(rf"^\s*{field}:", body, re.M)]
        for name, body in running.items()
    }
    assert not {name: fields for name, fields in lacking.items() if fields}
    benchmarks = [re.search(r'benchmark:\s*"([^"]+)"', body).group(1) for body in running.values()]
    assert len(set(benchmarks)) == len(benchmarks), "two rules share a benchmark file"


def test_attribution_steps_run_no_table_or_figure_code():
    """A table's schema or writer can change without rerunning any attribution job."""
    from bertscope.pipeline.code import reachable_modules

    for script in (
        "embedding_lig",
        "subembedding_lig",
        "layer_conductance",
        "path_attribution",
        "attention_conductance",
    ):
        modules = reachable_modules(REPO / "scripts" / f"{script}.py")
        assert "bertscope.attribution.stored" in modules
        assert not [m for m in modules if m.startswith(("bertscope.tables", "bertscope.figures"))], script


def test_every_script_is_glue():
    """Step scripts (and scripts/build_demo_model.py) stay short: their logic lives in the package, where tests
    import it."""
    lengths = {path.name: len(path.read_text().splitlines()) for path in sorted((REPO / "scripts").glob("*.py"))}
    assert len(lengths) >= 16
    assert not {name: length for name, length in lengths.items() if length > 60}


MODEL_STEPS = {
    "prepare_inputs",
    "embedding_lig",
    "subembedding_lig",
    "layer_conductance",
    "path_attribution",
    "attention_conductance",
    "faithfulness",
    "sanity_cascade",
    "convergence_ladder",
    "build_demo_model",
}
"""The scripts that run a model; every other step starts without torch, transformers or captum."""


def test_steps_that_run_no_model_import_no_torch():
    """Importing torch, transformers and captum costs seconds per job (bench/README.md): the table, figure,
    summary, model-check and provenance steps must not pay it."""
    others = sorted(path.stem for path in (REPO / "scripts").glob("*.py") if path.stem not in MODEL_STEPS)
    assert len(others) >= 12
    scripts = REPO / "scripts"
    probe = (
        "import importlib.util, sys\n"
        f"sys.path.insert(0, {str(scripts)!r})\n"
        f"for name, path in {[(name, str(scripts / f'{name}.py')) for name in others]!r}:\n"
        "    spec = importlib.util.spec_from_file_location('step_' + name, path)\n"
        "    spec.loader.exec_module(importlib.util.module_from_spec(spec))\n"
        "    heavy = [module for module in ('torch', 'transformers', 'captum') if module in sys.modules]\n"
        "    assert not heavy, f'scripts/{name}.py imports {heavy}'\n"
    )
    completed = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr[-2000:]
