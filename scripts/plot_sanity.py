"""The sanity cascade figure across the examples the check covered (sanity_cascade table parts)."""

import pandas as pd

from bertscope.figures.sanity import draw_cascade
from bertscope.figures.style import figure_footer
from bertscope.pipeline.step import run_step


def main(smk):
    rows = pd.concat([pd.read_parquet(path) for path in smk.input.parts], ignore_index=True)
    covers = f"examples: {rows['example'].nunique()} · sanity_seed: {smk.params.seed}"
    draw_cascade(
        rows,
        smk.output.figure,
        figure_footer(smk.params.model, smk.params.n_steps, smk.params.procedure, covers, smk.params.target),
    )


if __name__ == "__main__":
    run_step(main, globals())
