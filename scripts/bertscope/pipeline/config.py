"""Reading and checking the configuration: config files read strictly (a key given twice, bad YAML: refused with
the line), the schema's violations as one message naming the key and the fix, and the device checked at planning."""

from __future__ import annotations

import json
from pathlib import Path

import yaml


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
    """The most relevant schema violation of ``config`` as one short message naming the key and the fix.

    Args:
        config: the merged configuration.
        schema_path: the config schema (``workflow/schemas/config.schema.yaml``).

    Returns:
        The message, or None when the config is valid.
    """
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
    """Why ``device`` cannot run here (a CUDA device torch does not see). Imports torch only for cuda.

    Args:
        device: the ``device`` setting (``auto``, ``cpu``, ``cuda``, ``cuda:N``).

    Returns:
        The message naming the field and the fix, or None when the device is usable.
    """
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
    """YAML's safe loader refusing a key given twice in one mapping (plain YAML keeps the last silently) and any
    alias (``*name``): nested aliases expand exponentially (9 levels of 9 make 387 million values, an hour of
    validation), and no setting needs one. Refused while composing, before anything is expanded."""

    def compose_node(self, parent, index):
        if self.check_event(yaml.events.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(
                None,
                None,
                f"the alias *{event.anchor} repeats a value given elsewhere; config files take no aliases",
                event.start_mark,
            )
        return super().compose_node(parent, index)


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
    """Why a YAML config file cannot be read as written (bad syntax, a key given twice), with its line.

    Args:
        path: the config file; a missing file is no problem (Snakemake reports it).

    Returns:
        The message with the file, line and column and the fix, or None.
    """
    path = Path(path)
    if not path.is_file():
        return None
    try:
        yaml.load(path.read_text(encoding="utf-8"), Loader=_StrictLoader)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark
        where = f"{path}, line {mark.line + 1}, column {mark.column + 1}" if mark else str(path)
        problem = " ".join(filter(None, [error.context, error.problem]))
        return (
            f"{where}: {problem}. Fix: correct the file there (each key once, each value written out; "
            "YAML indents with spaces)"
        )
    except (UnicodeDecodeError, yaml.YAMLError) as error:
        return f"{path}: cannot be read as YAML ({error}). Fix: save it as UTF-8 YAML"
    return None
