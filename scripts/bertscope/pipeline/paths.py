"""Where each step writes, by batch (and layer group). Rules, scripts and the Makefile take these paths from here."""

MODEL_DIR = "results/model"
INPUTS = "results/inputs/{batch}.safetensors"
EMBEDDINGS = "results/attributions/{batch}/embeddings.safetensors"
SUBEMBEDDINGS_FILE = "results/attributions/{batch}/subembeddings.safetensors"
CONDUCTANCE = "results/attributions/{batch}/conductance_{group}.safetensors"
ATTENTION = "results/attributions/{batch}/attention_{group}.safetensors"
TABLE_PART = "results/tables/{table}/{batch}.parquet"
TABLE_DATASET = "results/tables/{table}"
TABLES_MANIFEST = "results/tables/datasets.json"
TABLE_PREVIEW = "results/tables/{table}.html"
PROVENANCE = "results/provenance.json"
FIGURES = "results/figures/{batch}"
"""A figure job's directory: one folder per example of the batch that has figures (``{batch}/{example}/``)."""


SUMMARY = "_summary"
"""The summary figures' folder below ``results/figures``: example ids and batch names start with a letter or digit, so
it is never a batch's."""
SUMMARY_FIGURE = "results/figures/" + SUMMARY + "/{stem}.{fmt}"

# Scores and the comparisons by outcome (issue 19), written by the outcome_summary step.
SCORES = "results/scores.json"
"""The SQuAD v2.0 scores of the scored predictions, as the official script prints them."""
OUTCOME_SHARES = "results/summaries/outcome_shares.parquet"
"""The mean share of |attribution| per region, by outcome (:data:`bertscope.tables.schemas.OUTCOME_SCHEMAS`)."""

# Faithfulness (issue 20)
FAITHFULNESS_FIGURES = "results/figures/_faithfulness/{batch}"
"""A faithfulness figure job's directory: one folder per figure example of the batch (``{batch}/{example}/``); in
its own folder (``_faithfulness``, never a batch's name), so that it caches apart from the example figures."""
