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


def layer_groups(num_layers: int, layers_per_job) -> dict[str, list[int]]:
    """The conductance jobs' groups of encoder layers, by name: 1-based layer numbers, ``layers_per_job`` a time.

    ``layers_per_job`` is N or ``all``; a group is named after its first and last layer (``layers_01-04``).
    """
    size = num_layers if layers_per_job == "all" else int(layers_per_job)
    groups = {}
    for first in range(1, num_layers + 1, size):
        last = min(first + size - 1, num_layers)
        groups[f"layers_{first:02d}-{last:02d}"] = list(range(first, last + 1))
    return groups


def example_batches(example_ids: list[str], examples_per_job: int) -> dict[str, list[str]]:
    """Consecutive runs of ``examples_per_job`` examples that one job of each per-batch step handles together.

    A batch is named after its examples: the id alone, or ``first..last``. One job per batch loads the model
    once for all of them and writes one file for all of them.
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


def figure_examples(selection, inline_ids: list[str], example_ids: list[str]) -> list[str]:
    """The examples whose own figures are drawn, in run order.

    ``selection`` is ``inline`` (the examples given in the config itself, none of examples_file's), ``all``,
    ``none``, N (the first N examples) or a list of example ids.
    """
    if selection == "all":
        return list(example_ids)
    if selection == "none":
        return []
    if selection == "inline":
        inline = set(inline_ids)
        return [example for example in example_ids if example in inline]
    if isinstance(selection, int):
        return list(example_ids[:selection])
    known = set(example_ids)
    unknown = [example for example in selection if example not in known]
    if unknown:
        raise BertscopeError(
            f"config field 'figure_examples': no example has the id(s) {', '.join(map(repr, unknown))}. "
            "Fix: list ids of the run's examples, or use inline, all, none or a number (the first N examples)"
        )
    chosen = set(selection)
    return [example for example in example_ids if example in chosen]


def figure_batches(batches: dict[str, list[str]], chosen: list[str]) -> dict[str, list[str]]:
    """The batches that hold a chosen example, each with its chosen examples: one figure job per such batch."""
    chosen_set = set(chosen)
    selected = {batch: [example for example in members if example in chosen_set] for batch, members in batches.items()}
    return {batch: members for batch, members in selected.items() if members}


# Where each step writes, by batch (and layer group). Rules and scripts take these paths from here.
INPUTS = "results/inputs/{batch}.safetensors"
EMBEDDINGS = "results/attributions/{batch}/embeddings.safetensors"
SUBEMBEDDINGS_FILE = "results/attributions/{batch}/subembeddings.safetensors"
CONDUCTANCE = "results/attributions/{batch}/conductance_{group}.safetensors"
TABLE_PART = "results/tables/{table}/{batch}.parquet"
TABLE_DATASET = "results/tables/{table}"
TABLES_MANIFEST = "results/tables/datasets.json"
FIGURES = "results/figures/{batch}"
"""A figure job's directory: one folder per example of the batch that has figures (``{batch}/{example}/``)."""


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
