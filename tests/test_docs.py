"""The documentation: the settings reference generated from the config schema, a short README that states the test
command CI runs, and no link or named file that points nowhere."""

from __future__ import annotations

import importlib.util
import re

import pytest
from conftest import REPO

DOCS = sorted((REPO / "docs").glob("*.md"))
MARKDOWN = [REPO / "README.md", *DOCS, REPO / "bench" / "README.md", REPO / "results" / "README.md"]
# Files that name repository paths in prose or comments (bench/README.md also names the benchmark's outputs).
POINTERS = [page for page in MARKDOWN if page.parent.name != "bench"]
POINTERS += [REPO / name for name in ("requirements.txt", "environment.yml", "config.yaml", "Makefile")]
POINTERS += [REPO / "pytest.ini", REPO / "workflow" / "schemas" / "config.schema.yaml"]
POINTERS += sorted((REPO / "workflow" / "report").glob("*.rst"))


def load_generator():
    spec = importlib.util.spec_from_file_location("generate_config_docs", REPO / "docs" / "generate_config_docs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_configuration_docs_are_what_the_generator_writes_from_the_schema():
    generator = load_generator()
    written = (REPO / "docs" / "configuration.md").read_text()
    assert written == generator.expected_document(), (
        "docs/configuration.md differs from workflow/schemas/config.schema.yaml: run `make docs`"
    )


def test_the_settings_reference_names_every_key_of_the_schema_with_its_default():
    import yaml

    schema = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())
    reference = load_generator().reference(schema)
    for key, value in schema["properties"].items():
        assert f"### `{key}`" in reference, key
        assert "default" not in value or "**Default:** `" in reference.split(f"### `{key}`")[1].split("###")[0], key


def test_config_yaml_sets_the_defaults_the_schema_states():
    import yaml

    schema = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    for key, value in config.items():
        if key != "examples":
            assert value == schema["properties"][key]["default"], f"config.yaml sets {key}: {value!r}, not its default"


def test_readme_is_a_short_front_door_that_states_the_test_command():
    readme = (REPO / "README.md").read_text()
    assert len(readme.splitlines()) <= 120
    commands = [
        line.split("#")[0].strip()
        for block in re.findall(r"```\n(.*?)```", readme, re.S)
        for line in block.splitlines()
    ]
    # CI (.ci/run) runs the README's test command.
    assert "make test" in commands and "make run" in commands
    assert "make test" in (REPO / ".ci" / "run").read_text().splitlines()


def outside_code(text: str) -> str:
    """Markdown without its fenced code blocks."""
    return re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)


def anchors(path) -> set[str]:
    """GitHub's anchors of a Markdown file's headings."""
    headings = re.findall(r"^#+ (.+)$", outside_code(path.read_text()), flags=re.M)
    return {re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-") for heading in headings}


@pytest.mark.parametrize("page", MARKDOWN, ids=lambda path: str(path.relative_to(REPO)))
def test_every_link_resolves(page):
    text = outside_code(page.read_text())
    targets = re.findall(r"\]\(([^)\s]+)\)", text) + re.findall(r'<img src="([^"]+)"', text)
    for target in targets:
        if re.match(r"[a-z]+:", target):
            continue
        path, _, anchor = target.partition("#")
        resolved = (page.parent / path).resolve() if path else page
        assert resolved.exists(), f"{page.relative_to(REPO)}: link to {target}, which does not exist"
        if anchor:
            assert anchor in anchors(resolved), f"{page.relative_to(REPO)}: link to {target}, no such heading"


@pytest.mark.parametrize("page", POINTERS, ids=lambda path: str(path.relative_to(REPO)))
def test_every_repository_path_named_exists(page):
    named = re.findall(r"(?<![\w./-])((?:scripts|tests|bench|workflow|profiles|docs)/[\w./-]*\w)", page.read_text())
    missing = sorted({path for path in named if not (REPO / path).exists()})
    assert not missing, f"{page.relative_to(REPO)} names {missing}, which do not exist"
