"""Writing the Parquet tables: columns in schema order with schema dtypes, key/value metadata, atomic parts."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pandas as pd

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
    import pyarrow as pa
    import pyarrow.parquet as pq

    arrow = pa.Table.from_pandas(conform(frame, table), preserve_index=False)
    merged = {**(arrow.schema.metadata or {}), **{key.encode(): str(value).encode() for key, value in metadata.items()}}
    with atomic_output(path) as staging:
        pq.write_table(arrow.replace_schema_metadata(merged), staging)


def write_table_parts(rows: dict[str, list[pd.DataFrame]], outputs, tables, metadata: dict[str, str]) -> None:
    """Write each table's collected rows to its output path (``outputs[table]``), an empty part where none."""
    for table in tables:
        frame = pd.concat(rows[table], ignore_index=True) if rows.get(table) else pd.DataFrame()
        write_table(frame, table, outputs[table], metadata)
        log.info("%s: %d rows", table, len(frame))


def remove_stale_parts(dataset: Path, current: set[Path]) -> list[str]:
    """Delete the Parquet parts of ``dataset`` that are not ``current`` (staging files, named '.…', are left)."""
    stale = [path for path in dataset.glob("[!._]*.parquet") if path.resolve() not in current]
    for path in stale:
        path.unlink()
    return sorted(path.name for path in stale)
