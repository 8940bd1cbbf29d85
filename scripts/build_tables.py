"""One batch's part of every Part 1 table and, with attention, of every Part 2 table (schemas in
bertscope.tables.schemas), from its inputs, attribution and attention files."""

import logging
from collections import defaultdict

import pandas as pd

from bertscope.evaluation.convergence import AUTO_KEYS
from bertscope.pipeline.provenance import ATTRIBUTION_SETTINGS, table_metadata
from bertscope.pipeline.step import run_step
from bertscope.pipeline.tensor_io import BatchFile
from bertscope.tables.io import write_table_parts
from bertscope.tables.part1 import example_tables
from bertscope.tables.part2 import attention_example_tables
from bertscope.tables.schemas import ATTENTION_TABLES

log = logging.getLogger("bertscope")


def main(smk):
    inputs = BatchFile(smk.input.inputs)
    embeddings, subembeddings = BatchFile(smk.input.embeddings), BatchFile(smk.input.subembeddings)
    conductance = [BatchFile(path) for path in smk.input.conductance]
    attention = [BatchFile(path) for path in smk.input.attention]
    rows: dict[str, list[pd.DataFrame]] = defaultdict(list)
    units = inputs.examples  # each example's, and with explain_windows: all its other windows
    for number, example in enumerate(units, 1):
        record = inputs.records[example]
        tables = example_tables(example, record, embeddings, subembeddings, conductance)
        if attention:
            tables.update(attention_example_tables(example, record["tokens"], attention))
        for table, frames in tables.items():
            rows[table].extend(frames)
        log.info("unit %d of %d: %s", number, len(units), example)
    names = (*ATTRIBUTION_SETTINGS, *AUTO_KEYS)  # n_steps: auto's settings only with it
    settings = {name: smk.params[name] for name in names if hasattr(smk.params, name)}
    part1 = table_metadata(smk.input.model, settings)
    part2 = table_metadata(smk.input.model, {**settings, "attention_layer": smk.params.attention_layer})
    metadata = {table: part2 if table in ATTENTION_TABLES else part1 for table in smk.params.tables}
    write_table_parts(rows, smk.output, metadata)


if __name__ == "__main__":
    run_step(main, globals())
