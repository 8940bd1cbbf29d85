"""Part 2 across every example: the mean norm of each head's attention conductance, per layer, head and target."""

import logging

from bertscope.attention_figures import draw_head_summary, mean_conductance_by_head
from bertscope.step import run_step

log = logging.getLogger("bertscope")


def main(smk):
    means = mean_conductance_by_head(smk.input.attention_heads)
    examples = len(smk.params.examples)
    settings = f"model: {smk.params.model} · n_steps: {smk.params.n_steps} · procedure: {smk.params.procedure}"
    footer = f"{settings} · examples: {examples}"
    draw_head_summary(means, examples, footer, smk.output.figure)
    log.info("%d layers × %d heads over %d examples", *means.index.levshape, examples)


if __name__ == "__main__":
    run_step(main, globals())
