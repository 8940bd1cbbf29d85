"""The config schema (``workflow/schemas/config.schema.yaml``) as the one source of every setting's allowed values and
default: the package reads them from here instead of repeating them."""

from __future__ import annotations

from functools import cache
from pathlib import Path

SCHEMA_PATH = Path(__file__).resolve().parents[3] / "workflow" / "schemas" / "config.schema.yaml"


@cache
def _properties() -> dict:
    import yaml

    return yaml.safe_load(SCHEMA_PATH.read_text(encoding="utf-8"))["properties"]


def allowed(key: str) -> tuple:
    """The values a setting may take, as the schema's ``enum`` lists them (e.g. ``allowed("procedure")``).

    Args:
        key: the setting.

    Returns:
        The allowed values, in the schema's order.
    """
    return tuple(_properties()[key]["enum"])


def default(key: str):
    """A setting's default, as the schema gives it (e.g. ``default("stride")`` is 128).

    Args:
        key: the setting.

    Returns:
        The default value.
    """
    return _properties()[key]["default"]


def check_allowed(key: str, value) -> None:
    """Fail with the config field and the fix unless ``value`` is one of the schema's values for ``key``.

    Snakemake validates the config against the schema before any job; this guards the package's functions when
    they are called directly (a step by hand, a test, a notebook).

    Args:
        key: the setting.
        value: the value given.

    Raises:
        BertscopeError: ``value`` is not allowed, naming the field and the allowed values.
    """
    from bertscope import BertscopeError

    values = allowed(key)
    if value not in values:
        raise BertscopeError(
            f"config field '{key}': {value!r} is not allowed. Fix: use one of {', '.join(map(str, values))}"
        )
