"""Part 2 across every example: the mean norm of each head's attention conductance, per layer, head and target."""

import logging

from bertscope.figures.attention import draw_head_summary, mean_conductance_by_head
from bertscope.figures.style import figure_footer
from bertscope.pipeline.step import run_step

log = logging.getLogger("bertscope")


def main(smk):
    means, examples = mean_conductance_by_head(smk.input.attention_heads)
    covers = f"examples: {examples}"
    footer = figure_footer(smk.params.model, smk.params.n_steps, smk.params.procedure, covers, smk.params.target)
    draw_head_summary(means, examples, footer, smk.output.figure)
    log.info("%d layers × %d heads over %d examples", *means.index.levshape, examples)


if __name__ == "__main__":
    run_step(main, globals())
