"""One batch's part of every Part 2 table (schemas in bertscope.tables.schemas), from its inputs and attention files."""

import logging
from collections import defaultdict

import pandas as pd

from bertscope.pipeline.provenance import ATTRIBUTION_SETTINGS, table_metadata
from bertscope.pipeline.step import run_step
from bertscope.pipeline.tensor_io import BatchFile
from bertscope.tables.io import write_table_parts
from bertscope.tables.part2 import attention_example_tables

log = logging.getLogger("bertscope")


def main(smk):
    inputs = BatchFile(smk.input.inputs)
    files = [BatchFile(path) for path in smk.input.attention]
    rows: dict[str, list[pd.DataFrame]] = defaultdict(list)
    for number, example in enumerate(smk.params.examples, 1):
        for table, frames in attention_example_tables(example, inputs.records[example]["tokens"], files).items():
            rows[table].extend(frames)
        log.info("example %d of %d: %s", number, len(smk.params.examples), example)
    settings = {name: smk.params[name] for name in ATTRIBUTION_SETTINGS}
    metadata = table_metadata(smk.input.model, {**settings, "attention_layer": smk.params.attention_layer})
    write_table_parts(rows, smk.output, smk.params.tables, metadata)


if __name__ == "__main__":
    run_step(main, globals())
