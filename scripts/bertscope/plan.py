"""What the Snakefile needs to plan the DAG, kept free of torch so that planning stays fast."""

from __future__ import annotations

import json
from pathlib import Path

from bertscope import BertscopeError

DEMO = "demo"
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
TOKENIZER_FILES = ("tokenizer.json", "vocab.txt")


def local_model_files(model: str) -> list[str]:
    """The files of a local model directory whose change should rebuild the model step (none for demo/Hub)."""
    if model == DEMO or not Path(model).expanduser().is_dir():
        return []
    directory = Path(model).expanduser()
    names = ("config.json", *WEIGHT_FILES, *TOKENIZER_FILES, "tokenizer_config.json")
    return [str(directory / name) for name in names if (directory / name).is_file()]


def num_encoder_layers(model_dir: str) -> int:
    """The encoder depth from a model directory's config.json, without loading the model."""
    return int(json.loads((Path(model_dir) / "config.json").read_text())["num_hidden_layers"])


def layer_groups(num_layers: int, layers_per_job) -> list[tuple[int, int]]:
    """1-based (first, last) encoder layers of each conductance job; ``layers_per_job`` is N or ``all``."""
    size = num_layers if layers_per_job == "all" else int(layers_per_job)
    return [(first, min(first + size - 1, num_layers)) for first in range(1, num_layers + 1, size)]


def group_name(first: int, last: int) -> str:
    return f"layers_{first:02d}-{last:02d}"


def example_batches(example_ids: list[str], examples_per_job: int) -> dict[str, list[str]]:
    """Consecutive runs of ``examples_per_job`` examples that one model-running job handles together.

    A batch is named after its examples: the id alone, or ``first..last``. One job per batch loads the model
    once for all of them; every example still gets its own output files.
    """
    batches: dict[str, list[str]] = {}
    for start in range(0, len(example_ids), examples_per_job):
        members = example_ids[start : start + examples_per_job]
        name = members[0] if len(members) == 1 else f"{members[0]}..{members[-1]}"
        if name in batches:
            raise BertscopeError(
                f"config field 'examples_per_job': example batches '{name}' collide (an example id contains '..'). "
                "Fix: rename that example, or change examples_per_job"
            )
        batches[name] = members
    return batches


def example_file(directory: str | Path, example: str) -> Path:
    """An example's file in a batch's directory of inputs or LIG attributions."""
    return Path(directory) / f"{example}.safetensors"


CONDUCTANCE_FILES = "*/layer_*.safetensors"
"""Every :func:`conductance_file` of a layer-group directory, as a glob pattern."""


def conductance_file(directory: str | Path, example: str, layer: int) -> Path:
    """An example's conductance of one encoder layer (1-based) in a batch's layer-group directory."""
    return Path(directory) / example / f"layer_{layer:02d}.safetensors"


def config_problem(config: dict, schema_path: str | Path) -> str | None:
    """The most relevant schema violation of ``config`` as one short message naming the key and the fix, or None."""
    import jsonschema
    import yaml

    schema = yaml.safe_load(Path(schema_path).read_text())
    error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(schema).iter_errors(config))
    if error is None:
        return None
    where = "config"
    for part in error.absolute_path:
        where += f"[{part!r}]" if where != "config" else f" key '{part}'"
    if error.validator == "required":
        return f"{where}: {error.message}. Fix: add it (workflow/schemas/config.schema.yaml describes each key)."
    if error.validator == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        unknown = sorted(set(error.instance) - set(allowed))
        return (
            f"{where}: unknown key(s) {', '.join(map(repr, unknown))}. "
            f"Fix: correct the spelling or remove them; the allowed keys are {', '.join(allowed)} "
            f"(workflow/schemas/config.schema.yaml describes each)."
        )
    description = " ".join(str(error.schema.get("description", "")).split())
    hint = f" The key: {description}" if description else ""
    return (
        f"{where}: {error.message}. Fix: give an allowed value.{hint} "
        "(workflow/schemas/config.schema.yaml describes each key.)"
    )
