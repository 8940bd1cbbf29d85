"""Every figure and page of the chosen examples of a batch, one folder per example, from the batch's table parts."""

import logging

import pandas as pd

from bertscope import BertscopeError
from bertscope.figures.attention import draw_attention_example
from bertscope.figures.examples import draw_example
from bertscope.figures.style import figure_footer
from bertscope.pipeline.names import example_file_name
from bertscope.pipeline.step import atomic_output, run_step
from bertscope.tables.io import read_part
from bertscope.tables.schemas import ATTENTION_TABLES, EXAMPLE_FIGURE_TABLES, example_figure_tables

log = logging.getLogger("bertscope")


def example_rows(parts: dict[str, pd.DataFrame], example: str, path_of: dict[str, str]) -> dict[str, pd.DataFrame]:
    frames = {}
    for table, frame in parts.items():
        rows = frame[frame["example"] == example]
        if rows.empty:
            raise BertscopeError(
                f"example '{example}': table part {path_of[table]} has no rows for it. "
                "Fix: rebuild the tables (snakemake --forcerun tables)"
            )
        frames[table] = rows
    return frames


def main(smk):
    tables = example_figure_tables(smk.params.attention)
    paths = {table: smk.input[table] for table in tables}
    parts = {table: read_part(path) for table, path in paths.items()}
    examples = list(smk.params.examples)
    with atomic_output(smk.output.figures, directory=True) as staging:
        for number, example in enumerate(examples, 1):
            footer = figure_footer(
                smk.params.model, smk.params.n_steps, smk.params.procedure, f"example: {example}", smk.params.target
            )
            frames = example_rows(parts, example, paths)
            draw_example(
                {table: frames[table] for table in EXAMPLE_FIGURE_TABLES},
                staging / example_file_name(example),
                smk.params.figure_formats,
                footer,
            )
            if smk.params.attention:
                attention = {table: frames[table] for table in ATTENTION_TABLES}
                draw_attention_example(
                    attention, example, staging / example_file_name(example), smk.params.figure_formats, footer
                )
            log.info("example %d of %d: %s", number, len(examples), example)


if __name__ == "__main__":
    run_step(main, globals())
