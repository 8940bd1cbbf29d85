"""Writing and reading the Parquet tables: columns in schema order with schema dtypes, key/value metadata, atomic
parts, and the integrity the safetensors intermediates have.

Every part is written with Parquet's page checksums (a CRC32 of each data page, in its page header) and read with
their verification on; the footer, at the end of the file, is read first, so that a truncated part fails at once.
A missing or damaged part fails with its path and the command that rebuilds it.
"""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path

import pandas as pd

from bertscope import DamagedTablePartError
from bertscope.pipeline.step import atomic_output
from bertscope.tables.schemas import OUTCOME_SCHEMAS, SCHEMAS

log = logging.getLogger("bertscope")


def conform(frame: pd.DataFrame, table: str) -> pd.DataFrame:
    """Columns in schema order with schema dtypes; an empty frame gets the schema too."""
    schema = SCHEMAS[table] if table in SCHEMAS else OUTCOME_SCHEMAS[table]
    if frame.empty:
        frame = pd.DataFrame(columns=list(schema))
    return frame[list(schema)].astype(schema).reset_index(drop=True)


def write_table(frame: pd.DataFrame, table: str, path: str | os.PathLike, metadata: dict[str, str]) -> None:
    """Write one table (or one part of a table's dataset) atomically, with ``metadata`` as key/value metadata."""

    with atomic_output(path) as staging:
        _write_arrow(frame, table, staging, metadata)


def _write_arrow(frame: pd.DataFrame, table: str, path: Path, metadata: dict[str, str]) -> None:
    """Write ``frame`` as ``table`` to ``path`` (not atomically), with page checksums and ``metadata``."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    arrow = pa.Table.from_pandas(conform(frame, table), preserve_index=False)
    merged = {**(arrow.schema.metadata or {}), **{key.encode(): str(value).encode() for key, value in metadata.items()}}
    pq.write_table(arrow.replace_schema_metadata(merged), path, write_page_checksum=True)


def damaged_part(path: str | os.PathLike, problem: str) -> DamagedTablePartError:
    """The error for a table part that cannot be used, naming it and the one command that rebuilds it."""
    return DamagedTablePartError(
        f"table part {path} {problem}. Fix: rebuild it with `snakemake --cores 1 --force {path}` (with this run's "
        "other options), then rerun as before"
    )


def check_part(path: str | os.PathLike) -> int:
    """Check that a table part exists and that its footer reads (a truncated file has none); cheap, no data read.

    Args:
        path: a part written by :func:`write_table`.

    Returns:
        The part's number of rows.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    if not Path(path).is_file():
        raise damaged_part(path, "is missing")
    try:
        return pq.read_metadata(path).num_rows
    except (pa.ArrowException, OSError) as error:
        raise damaged_part(path, f"cannot be read ({error})") from None


def read_part(path: str | os.PathLike, columns: list[str] | None = None, filters=None) -> pd.DataFrame:
    """One table part as a frame, its footer and every page checksum verified.

    Args:
        path: a part written by :func:`write_table`.
        columns: the columns to read (default: all).
        filters: row filters as ``pandas.read_parquet`` takes them, e.g. ``[("source", "==", "layer")]``.

    Returns:
        The part's rows (of ``columns``), with the schema's dtypes as written.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    check_part(path)
    try:
        table = pq.read_table(path, columns=columns, filters=filters, page_checksum_verification=True)
    except (pa.ArrowException, OSError) as error:
        raise damaged_part(path, f"fails its checks ({error})") from None
    return table.to_pandas()


def write_table_parts(rows: dict[str, list[pd.DataFrame]], outputs, metadata: dict[str, dict[str, str]]) -> None:
    """Write each table's collected rows to its output path (``outputs[table]``), an empty part where none.

    Every part is staged first and all are moved into place together at the end, so that a job killed while
    writing leaves none of its parts (which Snakemake would find, marked incomplete, and refuse to rerun over
    without ``--rerun-incomplete``).

    Args:
        rows: ``{table: [frames]}``, the rows collected per table (a table without any gets an empty part).
        outputs: the job's output paths by table.
        metadata: the Parquet key/value metadata of each table written
            (:func:`~bertscope.pipeline.provenance.table_metadata`), by table: its keys are the tables written.
    """
    with contextlib.ExitStack() as stack:
        for table, table_metadata in metadata.items():
            frame = pd.concat(rows[table], ignore_index=True) if rows.get(table) else pd.DataFrame()
            staging = stack.enter_context(atomic_output(outputs[table]))
            _write_arrow(frame, table, staging, table_metadata)
            log.info("%s: %d rows", table, len(frame))


def remove_stale_parts(dataset: Path, current: set[Path]) -> list[str]:
    """Delete the Parquet parts of ``dataset`` that are not ``current`` (staging files, named '.…', are left)."""
    stale = [path for path in dataset.glob("[!._]*.parquet") if path.resolve() not in current]
    for path in stale:
        path.unlink()
    return sorted(path.name for path in stale)
