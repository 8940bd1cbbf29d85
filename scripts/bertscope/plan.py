"""What the Snakefile needs to plan the DAG, kept free of torch so that planning stays fast."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

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


ALL_LAYERS = "layers_all"


def layer_groups(num_layers: int, layers_per_job) -> dict[str, list[int]]:
    """The conductance jobs' groups of encoder layers, by name: 1-based layer numbers, ``layers_per_job`` a time.

    ``layers_per_job`` is N or ``all``; a group is named after its first and last layer (``layers_01-04``), the
    one group of ``all`` is ``layers_all`` (a name known before the model is: see :func:`shares_one_pass`).
    """
    if layers_per_job == "all":
        return {ALL_LAYERS: list(range(1, num_layers + 1))}
    size = int(layers_per_job)
    groups = {}
    for first in range(1, num_layers + 1, size):
        last = min(first + size - 1, num_layers)
        groups[f"layers_{first:02d}-{last:02d}"] = list(range(first, last + 1))
    return groups


def chosen_attention_layer(attention_layer, num_layers: int) -> int:
    """``attention_layer`` (1-based, or ``last``) as a layer number of a model with ``num_layers`` encoder layers."""
    layer = num_layers if attention_layer == "last" else int(attention_layer)
    if layer > num_layers:
        raise BertscopeError(
            f"config field 'attention_layer': {layer}, but the model has {num_layers} encoder layers. "
            f"Fix: give a layer from 1 to {num_layers}, or last"
        )
    return layer


def shares_one_pass(procedure: str, layers_per_job) -> bool:
    """Whether embedding LIG and conductance come from one pass: ``corrected`` with every layer in one job."""
    return procedure == "corrected" and layers_per_job == "all"


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
ATTENTION = "results/attributions/{batch}/attention_{group}.safetensors"
TABLE_PART = "results/tables/{table}/{batch}.parquet"
TABLE_DATASET = "results/tables/{table}"
TABLES_MANIFEST = "results/tables/datasets.json"
FIGURES = "results/figures/{batch}"
"""A figure job's directory: one folder per example of the batch that has figures (``{batch}/{example}/``)."""


def _strict_validator(schema: dict):
    """A JSON-schema validator for which 50.0 is not an integer (JSON Schema's own rule says it is)."""
    import jsonschema

    base = jsonschema.Draft202012Validator
    checker = base.TYPE_CHECKER.redefine(
        "integer", lambda _, value: isinstance(value, int) and not isinstance(value, bool)
    )
    return jsonschema.validators.extend(base, type_checker=checker)(schema)


def _allowed_words(schema: dict) -> list[str]:
    """The words a key's schema allows besides numbers or lists (``auto``, ``all``, ...), in schema order."""
    words = []
    for option in [*schema.get("oneOf", []), schema]:
        words += [str(word) for word in option.get("enum", []) if isinstance(word, str)]
        if isinstance(option.get("const"), str):
            words.append(option["const"])
    return list(dict.fromkeys(words))


RETIRED_KEYS = {
    "demo_seed": "the demo model is shipped in models/demo, not trained by the pipeline; "
    "`make demo-model DEMO_SEED=N` rebuilds it with another seed",
}
"""Top-level config keys that older versions took, with what replaced them (named when a config still has one)."""


def config_problem(config: dict, schema_path: str | Path) -> str | None:
    """The most relevant schema violation of ``config`` as one short message naming the key and the fix, or None."""
    import jsonschema

    schema = yaml.safe_load(Path(schema_path).read_text())
    error = jsonschema.exceptions.best_match(_strict_validator(schema).iter_errors(config))
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
        gone = [key for key in unknown if key in RETIRED_KEYS and where == "config"]
        retired = "".join(f" '{key}' is gone: {RETIRED_KEYS[key]}." for key in gone)
        return (
            f"{where}: unknown key(s) {', '.join(map(repr, unknown))}.{retired} "
            f"Fix: correct the spelling or remove them; the allowed keys are {', '.join(allowed)} "
            f"(workflow/schemas/config.schema.yaml describes each)."
        )
    key_schema = schema
    for part in error.absolute_path:
        properties = key_schema.get("properties", {})
        key_schema = properties.get(part) or key_schema.get("additionalProperties") or {}
        if not isinstance(key_schema, dict):
            key_schema = {}
    value = error.instance
    if isinstance(value, float) and value.is_integer() and "integer" in json.dumps(key_schema):
        fix = f"write it as a whole number ({int(value)}), not {value!r}"
    elif key_schema.get("type") == "boolean":
        fix = "write true or false in a YAML file, True or False after --config (Snakemake reads Python there)"
    else:
        words = _allowed_words(key_schema)
        fix = "give an allowed value" + (f" (one of the words {', '.join(words)}, or as described)" if words else "")
    description = " ".join(str(key_schema.get("description", error.schema.get("description", ""))).split())
    hint = f" The key: {description}" if description else ""
    message = error.message
    if isinstance(value, str) and len(value) > 40:
        message = message.replace(repr(value), f"{value[:40]!r}… ({len(value)} characters)")
    return f"{where}: {message}. Fix: {fix}.{hint} (workflow/schemas/config.schema.yaml describes each key.)"


def device_problem(device: str) -> str | None:
    """Why ``device`` cannot run here (a CUDA device torch does not see), or None. Imports torch only for cuda."""
    if not device.startswith("cuda"):
        return None
    import torch

    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    index = int(device.partition(":")[2] or 0)
    if index < count:
        return None
    seen = f"torch {torch.__version__} sees {count} GPU(s)" + ("" if torch.version.cuda else ", a CPU-only build")
    return (
        f"config key 'device': '{device}', but {seen} on this machine. Fix: use device: auto (the GPU when there "
        "is one, else the CPU) or cpu, or run on a machine with a GPU (profiles/slurm asks the cluster for one)"
    )


class _StrictLoader(yaml.SafeLoader):
    """YAML's safe loader refusing a key given twice in one mapping (plain YAML keeps the last silently)."""


def _mapping_without_duplicates(loader, node, deep=False):
    seen = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f"the key {key!r} is given twice (first on line {seen[key] + 1})",
                key_node.start_mark,
            )
        seen[key] = key_node.start_mark.line
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping_without_duplicates)


def config_file_problem(path: str | Path) -> str | None:
    """Why a YAML config file cannot be read as written (bad syntax, a key given twice), with its line; or None."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        yaml.load(path.read_text(encoding="utf-8"), Loader=_StrictLoader)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark
        where = f"{path}, line {mark.line + 1}, column {mark.column + 1}" if mark else str(path)
        problem = " ".join(filter(None, [error.context, error.problem]))
        return f"{where}: {problem}. Fix: correct the file there (each key once; YAML indents with spaces)"
    except (UnicodeDecodeError, yaml.YAMLError) as error:
        return f"{path}: cannot be read as YAML ({error}). Fix: save it as UTF-8 YAML"
    return None
