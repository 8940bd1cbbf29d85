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

# Faithfulness (issue 20)
FAITHFULNESS_FIGURES = "results/figures/_faithfulness/{batch}"
"""A faithfulness figure job's directory: one folder per figure example of the batch (``{batch}/{example}/``); in
its own folder (``_faithfulness``, never a batch's name), so that it caches apart from the example figures."""
