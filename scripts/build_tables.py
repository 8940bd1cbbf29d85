"""One batch's part of every Parquet table (documented in bertscope.tables), from its inputs and attribution files."""

import logging
from collections import defaultdict

import pandas as pd

from bertscope import SUBEMBEDDINGS
from bertscope.provenance import table_metadata
from bertscope.step import run_step
from bertscope.tables import (
    delta_rows,
    distribution_rows,
    layer_key,
    layer_summary_rows,
    summarize,
    token_rows,
    write_table_parts,
)
from bertscope.tensor_io import BatchFile

log = logging.getLogger("bertscope")


def example_tables(example: str, record: dict, embeddings, subembeddings, conductance) -> dict[str, list[pd.DataFrame]]:
    """Every table's rows of one example: ``record`` is its inputs record, the others open :class:`BatchFile`s
    (``conductance`` one per layer group)."""
    tokens, explained = record["tokens"], record["token_to_explain"]
    rows: dict[str, list[pd.DataFrame]] = defaultdict(list)

    delta = embeddings.tensor(example, "delta")
    rows["token_attributions"].append(
        token_rows(example, "embeddings", None, tokens, summarize(embeddings.tensor(example, "token_sums")))
    )
    rows["convergence_deltas"].append(delta_rows(example, "embeddings", None, delta))
    rows["predictions"].append(
        pd.DataFrame(
            [
                {
                    "example": example,
                    **{key: record[key] for key in ("predicted_start", "predicted_end", "predicted_answer")},
                    **{key: record[key] for key in ("start_prob", "end_prob", "true_start", "true_end")},
                    "delta_start": float(delta[0]),
                    "delta_end": float(delta[1]),
                }
            ]
        )
    )

    for source in SUBEMBEDDINGS:
        sums = subembeddings.tensor(example, f"{source}.token_sums")
        rows["token_attributions"].append(token_rows(example, source, None, tokens, summarize(sums)))
    rows["convergence_deltas"].append(
        delta_rows(example, "subembeddings", None, subembeddings.tensor(example, "delta"))
    )

    layers = sorted(layer for group in conductance for layer in group.records[example]["layers"])
    files = {layer: group for group in conductance for layer in group.records[example]["layers"]}
    for layer in layers:
        group, key = files[layer], layer_key(layer)
        vector, layer_delta = group.tensor(example, f"{key}.explained"), group.tensor(example, f"{key}.delta")
        sums = group.tensor(example, f"{key}.token_sums")
        rows["token_attributions"].append(token_rows(example, "layer", layer, tokens, summarize(sums)))
        rows["token_distributions"].append(distribution_rows(example, layer, explained, tokens[explained], vector))
        rows["layer_summary"].append(layer_summary_rows(example, layer, vector, layer_delta))
        rows["convergence_deltas"].append(delta_rows(example, "layer", layer, layer_delta))
    return rows


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
    metadata = table_metadata(smk.input.model, {"n_steps": smk.params.n_steps, "procedure": smk.params.procedure})
    write_table_parts(rows, smk.output, smk.params.tables, metadata)


if __name__ == "__main__":
    run_step(main, globals())
