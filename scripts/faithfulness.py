"""Faithfulness of every source's token map for the examples of a batch: comprehensiveness, sufficiency and AOPC
against a random baseline, and τ-LOO (bertscope.evaluation.faithfulness), one part of each faithfulness table."""

import logging
from collections import defaultdict

from bertscope.attribution.job import attribution_job, each_example
from bertscope.attribution.part1 import activation_memory_budget
from bertscope.evaluation.faithfulness import evaluate_example, reference_token_id, rows_per_pass, source_scores
from bertscope.models.loading import load_tokenizer
from bertscope.pipeline.provenance import ATTRIBUTION_SETTINGS, table_metadata
from bertscope.pipeline.step import run_step
from bertscope.pipeline.tensor_io import BatchFile
from bertscope.tables.faithfulness import faithfulness_frames
from bertscope.tables.io import write_table_parts

log = logging.getLogger("bertscope")


def main(smk):
    params = smk.params
    model, _, groups = attribution_job(smk)
    reference_id = reference_token_id(load_tokenizer(smk.input.model), params.reference)
    embeddings, subembeddings = BatchFile(smk.input.embeddings), BatchFile(smk.input.subembeddings)
    conductance = [BatchFile(path) for path in smk.input.conductance]
    attention = [BatchFile(path) for path in smk.input.attention]
    rows = defaultdict(list)
    for example, tensors, record in each_example(groups):
        scores = source_scores(example, embeddings, subembeddings, conductance, attention)
        chunk = rows_per_pass(model.config, tensors["input_ids"].shape[1], activation_memory_budget(model.device))
        result = evaluate_example(
            model,
            tensors,
            record,
            scores,
            example=example,
            percents=params.percent,
            reference_id=reference_id,
            protect=params.protect,
            seeds=params.random_seeds,
            rows_per_pass=chunk,
        )
        for table, frame in faithfulness_frames(result).items():
            rows[table].append(frame)
        log.info("%s: %d sources, %d rows per forward pass", example, len(scores), chunk)
    settings = {name: params[name] for name in ATTRIBUTION_SETTINGS}
    settings |= {"faithfulness_reference": params.reference}
    settings |= {"faithfulness_protect": params.protect, "faithfulness_random_seeds": list(params.random_seeds)}
    write_table_parts(rows, smk.output, dict.fromkeys(params.tables, table_metadata(smk.input.model, settings)))


if __name__ == "__main__":
    run_step(main, globals())
