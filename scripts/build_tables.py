"""One batch's part of every Part 1 table (schemas in bertscope.tables.schemas), from its inputs and attribution
files."""

import logging
from collections import defaultdict

import pandas as pd

from bertscope.evaluation.convergence import AUTO_KEYS
from bertscope.pipeline.provenance import ATTRIBUTION_SETTINGS, table_metadata
from bertscope.pipeline.step import run_step
from bertscope.pipeline.tensor_io import BatchFile
from bertscope.tables.io import write_table_parts
from bertscope.tables.part1 import example_tables

log = logging.getLogger("bertscope")


def main(smk):
    inputs = BatchFile(smk.input.inputs)
    embeddings, subembeddings = BatchFile(smk.input.embeddings), BatchFile(smk.input.subembeddings)
    conductance = [BatchFile(path) for path in smk.input.conductance]
    rows: dict[str, list[pd.DataFrame]] = defaultdict(list)
    for number, example in enumerate(smk.params.examples, 1):
        for table, frames in example_tables(
            example, inputs.records[example], embeddings, subembeddings, conductance
        ).items():
            rows[table].extend(frames)
        log.info("example %d of %d: %s", number, len(smk.params.examples), example)
    names = (*ATTRIBUTION_SETTINGS, *AUTO_KEYS)  # n_steps: auto's settings only with it
    metadata = table_metadata(smk.input.model, {name: smk.params[name] for name in names if hasattr(smk.params, name)})
    write_table_parts(rows, smk.output, smk.params.tables, metadata)


if __name__ == "__main__":
    run_step(main, globals())
