"""Collect every example's attributions into the Parquet tables documented in bertscope.tables."""

import logging
from collections import defaultdict
from pathlib import Path

import pandas as pd

from bertscope import SUBEMBEDDINGS
from bertscope.plan import CONDUCTANCE_FILES, example_file
from bertscope.provenance import table_metadata
from bertscope.step import run_step
from bertscope.tables import (
    delta_rows,
    distribution_rows,
    layer_summary_rows,
    summarize,
    token_rows,
    write_table,
)
from bertscope.tensor_io import load_arrays, read_record

log = logging.getLogger("bertscope")


def example_tables(inputs_path, embeddings_path, subembeddings_path, layer_files) -> dict[str, list[pd.DataFrame]]:
    """All table rows of one example; ``layer_files`` are its per-layer conductance files."""
    record = read_record(inputs_path)
    example, tokens, explained = record["example"], record["tokens"], record["token_to_explain"]
    rows: dict[str, list[pd.DataFrame]] = defaultdict(list)

    embeddings, _ = load_arrays(embeddings_path)
    rows["token_attributions"].append(
        token_rows(example, "embeddings", None, tokens, summarize(embeddings["attributions"]))
    )
    rows["convergence_deltas"].append(delta_rows(example, "embeddings", None, embeddings["delta"]))
    delta_start, delta_end = embeddings["delta"].tolist()
    rows["predictions"].append(
        pd.DataFrame(
            [
                {
                    "example": example,
                    **{key: record[key] for key in ("predicted_start", "predicted_end", "predicted_answer")},
                    **{key: record[key] for key in ("start_prob", "end_prob", "true_start", "true_end")},
                    "delta_start": delta_start,
                    "delta_end": delta_end,
                }
            ]
        )
    )

    subembeddings, _ = load_arrays(subembeddings_path)
    for source in SUBEMBEDDINGS:
        rows["token_attributions"].append(token_rows(example, source, None, tokens, summarize(subembeddings[source])))
    rows["convergence_deltas"].append(delta_rows(example, "subembeddings", None, subembeddings["delta"]))

    for path in sorted(layer_files, key=lambda path: Path(path).name):
        arrays, layer_record = load_arrays(path)
        layer, conductance = layer_record["layer"], arrays["attributions"]
        rows["token_attributions"].append(token_rows(example, "layer", layer, tokens, summarize(conductance)))
        rows["token_distributions"].append(distribution_rows(example, layer, explained, tokens[explained], conductance))
        rows["layer_summary"].append(layer_summary_rows(example, layer, explained, conductance, arrays["delta"]))
        rows["convergence_deltas"].append(delta_rows(example, "layer", layer, arrays["delta"]))
    return rows


def main(smk):
    """``params.batches`` lists each batch's examples, in the order of the batch directories in ``input``."""
    layer_files = defaultdict(list)
    for directory in smk.input.conductance:
        for path in Path(directory).glob(CONDUCTANCE_FILES):
            layer_files[path.parent.name].append(path)
    rows: dict[str, list[pd.DataFrame]] = defaultdict(list)
    batch_dirs = zip(smk.input.inputs, smk.input.embeddings, smk.input.subembeddings, strict=True)
    for examples, directories in zip(smk.params.batches, batch_dirs, strict=True):
        for example in examples:
            files = [example_file(directory, example) for directory in directories]
            for table, frames in example_tables(*files, layer_files[example]).items():
                rows[table].extend(frames)
    metadata = table_metadata(smk.input.model, {"n_steps": smk.params.n_steps})
    for table in smk.params.tables:
        frame = pd.concat(rows[table], ignore_index=True) if rows[table] else pd.DataFrame()
        write_table(frame, table, smk.output[table], metadata)
        log.info("%s: %d rows", table, len(frame))


if __name__ == "__main__":
    run_step(main, globals())
