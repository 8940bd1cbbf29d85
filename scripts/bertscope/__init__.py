"""bertscope: explain what a BERT question-answering model looks at, step by step.

The package holds the logic shared by the pipeline's step scripts in ``scripts/``. Submodules import their heavy
dependencies themselves, so a plotting step never pays for torch or captum and an attribution step never pays for
matplotlib.
"""

TARGETS = ("start", "end")
"""The two positions a QA model predicts; every attribution tensor stacks them in this order on axis 0."""

SUBEMBEDDINGS = ("word", "token_type", "position")
"""The sub-embeddings of BERT's embedding layer, in the order the sub-embedding attribution takes them."""


class BertscopeError(Exception):
    """A problem the user can fix; the message says what is wrong, where, and how to fix it."""


class DamagedFileError(BertscopeError):
    """An intermediate file that cannot be read or does not match its checksum: delete it and rerun the step."""


class DamagedTablePartError(DamagedFileError):
    """A Parquet table part that is missing, truncated or fails its page checksums; the message names the command
    that rebuilds it (not the step that read it)."""


def input_error(example: str, field: str, problem: str, fix: str) -> BertscopeError:
    """An error about one field of one example, in the one format every step uses."""
    return BertscopeError(f"example '{example}', field '{field}': {problem}. Fix: {fix}")
