"""Figures over every example in the tables (bertscope.figures.summary draws them): mean layer conductance per token
category, entropy per layer, the convergence deltas, and a page of every example's prediction."""

from bertscope.figures.summary import draw_summary
from bertscope.pipeline.step import run_step


def main(smk):
    datasets = dict(zip(smk.params.tables, smk.params.datasets, strict=True))
    draw_summary(datasets, smk.output, smk.params.model, smk.params.n_steps, smk.params.procedure, smk.params.target)


if __name__ == "__main__":
    run_step(main, globals())
