"""The faithfulness figures (AOPC curves per source with the random baseline, τ-LOO per source): per figure example
of a batch, one folder each, or, without examples, summarised across every example of the datasets."""

import logging
from pathlib import Path

import pandas as pd

from bertscope.figures.faithfulness import FIGURES, draw_faithfulness
from bertscope.figures.style import figure_footer
from bertscope.pipeline.step import atomic_output, run_step

log = logging.getLogger("bertscope")


def main(smk):
    params = smk.params
    curves, loo = pd.read_parquet(smk.input.curves), pd.read_parquet(smk.input.loo)
    settings = f"reference: {params.reference} · protect: {params.protect}"

    def footer(covers):
        return figure_footer(params.model, params.n_steps, params.procedure, f"{covers} · {settings}", params.target)

    if "figures" not in smk.output.keys():  # noqa: SIM118 (Snakemake's output is a list with names)
        examples = curves["example"].nunique()
        outputs = {stem: smk.output[stem] for stem in FIGURES}
        covers = f"over {examples} example" + ("" if examples == 1 else "s")
        draw_faithfulness(curves, loo, outputs, footer(f"examples: {examples}"), covers)
        return
    formats = list(params.figure_formats)
    with atomic_output(smk.output.figures, directory=True) as staging:
        for example in params.examples:
            folder = Path(staging) / example
            folder.mkdir(parents=True)
            outputs = {stem: [folder / f"{stem}.{fmt}" for fmt in formats] for stem in FIGURES}
            chosen = curves["example"] == example, loo["example"] == example
            draw_faithfulness(
                curves[chosen[0]], loo[chosen[1]], outputs, footer(f"example: {example}"), f"example {example}"
            )
            log.info("%s: faithfulness figures", example)


if __name__ == "__main__":
    run_step(main, globals())
