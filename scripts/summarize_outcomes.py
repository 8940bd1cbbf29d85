"""The predictions scored over the data set (results/scores.json, as the official SQuAD v2.0 script prints them)
and the attributions compared by outcome: the outcome_shares summary and its figures."""

import json

from bertscope.evaluation.squad import scores_of_predictions
from bertscope.figures.outcomes import draw_outcome_figures
from bertscope.figures.pages import write_text
from bertscope.figures.style import figure_footer
from bertscope.figures.summary import read_dataset
from bertscope.pipeline.provenance import table_metadata
from bertscope.pipeline.step import run_step
from bertscope.tables.io import write_table
from bertscope.tables.outcomes import SPAN_COLUMNS, other_window_units, outcome_shares, region_shares_of_dataset


def main(smk):
    datasets = dict(zip(smk.params.tables, smk.params.datasets, strict=True))
    predictions = read_dataset(datasets["predictions"], "predictions", [*SPAN_COLUMNS, "exact", "f1"])
    others = other_window_units(predictions)  # each question once, at its prediction's window
    predictions = predictions[~predictions["example"].isin(others)]
    write_text(smk.output.scores, json.dumps(scores_of_predictions(predictions), indent=2) + "\n")
    shares = region_shares_of_dataset(datasets["token_attributions"], predictions, others)
    table = outcome_shares(shares, predictions)
    settings = {name: smk.params[name] for name in ("n_steps", "procedure", "target")}
    metadata = table_metadata(smk.input.model, settings)
    write_table(table, "outcome_shares", smk.output.outcome_shares, metadata)
    covers = f"examples: {len(predictions)}"
    footer = figure_footer(smk.params.model, smk.params.n_steps, smk.params.procedure, covers, smk.params.target)
    draw_outcome_figures(table, smk.output, footer)


if __name__ == "__main__":
    run_step(main, globals())
