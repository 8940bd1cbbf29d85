"""The convergence figure across the figure examples (convergence_ladder table parts)."""

import pandas as pd

from bertscope.figures.convergence import draw_convergence
from bertscope.figures.style import figure_footer
from bertscope.pipeline.step import run_step


def main(smk):
    params = smk.params
    rows = pd.concat([pd.read_parquet(path) for path in smk.input.parts], ignore_index=True)
    covers = f"examples: {rows['example'].nunique()} · ladder n_steps {params.n_steps_min}-{params.n_steps_max}"
    footer = figure_footer(params.model, params.n_steps, params.procedure, covers, params.target)
    draw_convergence(rows, smk.output.figure, footer, params.n_steps_tolerance)


if __name__ == "__main__":
    run_step(main, globals())
