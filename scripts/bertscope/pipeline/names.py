"""File names of example ids: the one mapping from an id, which is kept as given, to the name of its files.

An id names the batch files, figure folders and tensor keys of its example, but any text is a valid id (a user's
file may use spaces, slashes, any script). An id that is already a safe, portable file name is its own name: lower
case ASCII letters and digits, '.', '_' and '-', starting with a letter or digit, no '..', at most 64 characters
(SQuAD's hex ids, ``tutorial``), not ending in 20 repeats of one text (Snakemake takes such a name for a runaway
rule). Any other id is named by a readable ASCII stem of it, '~', and 12 hex digits of the
sha256 of the id: a safe name never holds '~', so no id can take another's name (two mapped names differ in their
hashes). Lower case only, since macOS and Windows file systems do not tell 'Q1' from 'q1'.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

_SAFE = re.compile(r"[a-z0-9](?:[a-z0-9_-]|\.(?!\.))*")
_SAFE_MAX = 64
_PERIODIC_END = re.compile(r"(?P<unit>.+?)(?P=unit){19,}$")
"""An ending that repeats one text 20 times or more: Snakemake refuses such a wildcard value (a runaway rule)."""
_STEM_MAX = 40
HASH_SEPARATOR = "~"


def example_file_name(example_id: str) -> str:
    """The name of an example's files and folders: the id itself if it is a safe file name, else stem~hash.

    Args:
        example_id: the example's id, as given in the config or the examples file.

    Returns:
        A file name of at most 64 ASCII characters from ``[A-Za-z0-9._~-]``, never '..', unique to the id.
    """
    safe = len(example_id) <= _SAFE_MAX and _SAFE.fullmatch(example_id) and not example_id.endswith(".")
    if safe and not _PERIODIC_END.search(example_id):
        return example_id
    ascii_text = unicodedata.normalize("NFKD", example_id).encode("ascii", "ignore").decode("ascii")
    stem = re.sub(r"[^A-Za-z0-9-]+", "_", ascii_text).strip("_-")[:_STEM_MAX].rstrip("_-") or "id"
    digest = hashlib.sha256(example_id.encode("utf-8")).hexdigest()[:12]
    return f"{stem}{HASH_SEPARATOR}{digest}"
