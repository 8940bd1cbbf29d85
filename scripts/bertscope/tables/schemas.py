"""The Parquet tables: what they hold, how they are computed from the attribution files, and how they are written.

Each table is a dataset directory, ``results/tables/{table}/``, with one Parquet part per batch of examples
(``{batch}.parquet``); ``pandas.read_parquet("results/tables/{table}")`` or ``pyarrow.dataset`` read it as one
table. Schemas (one row per ...):

``token_attributions``: example, target, source, layer, token_index, token, attribution
    per token of every attribution: ``source`` is embeddings | word | token_type | position | layer (only the
    sub-embeddings the model's family has: :func:`bertscope.models.families.subembeddings`), ``layer`` is
    1-based for ``layer`` rows and null otherwise; ``attribution`` is the tutorial's summary (sum over the hidden
    dimension, divided by the L2 norm over tokens).
``token_distributions``: example, target, layer, token_index, token, dim, attribution
    per hidden dimension of the explained token's raw layer conductance.
``layer_summary``: example, target, layer, total_attribution, entropy, convergence_delta
    per encoder layer: the explained token's conductance summed over dimensions, the Shannon entropy (bits) of its
    100-bin attribution density normalised to a mass function, and the layer's conductance convergence delta.
``predictions``: example, predicted_start, predicted_end, predicted_answer, start_prob, end_prob, true_start,
    true_end, delta_start, delta_end — per example; deltas are the embedding LIG convergence deltas.
``convergence_deltas``: example, target, source, layer, delta — every attribution's convergence delta.

Part 2 (``attention: true``; :mod:`bertscope.attribution.part2`):

``attention_heads``: example, layer, head, attention_entropy, value_norm_mean, conductance_norm_start,
    conductance_norm_end — per example, layer and head (every example): the mean entropy (bits) of the head's
    attention rows, the mean ‖f(x)‖ over tokens, and the Frobenius norm of the conductance of its attention
    probabilities for each target.
``attention_matrices``: example, quantity, layer, head, from_index, from_token, to_index, to_token, value — per
    token pair, for the examples that get figures (``figure_examples``). ``quantity`` with a head (1-based), for
    ``attention_layer`` only: attention (α), conductance_start, conductance_end (of α), alpha_value_norm
    (‖α f(x)‖); with a null head, for every layer: attention_head_norm, conductance_start_head_norm,
    conductance_end_head_norm (L2 norms over heads) and summed_alpha_value_norm (‖Σ_h α f(x)‖).
``value_norms``: example, layer, head, token_index, token, value_norm — ‖f(x)‖ per token, figure examples.
``word_input_conductance``: example, target, layer, token_index, token, attribution — Part 2's conductance of
    each layer's output with the word embeddings as input, summarised as in Part 1, figure examples.

The attribution steps keep, per attribution, what these tables need (:mod:`bertscope.attribution.stored`): the
per-token sums over the hidden dimension, and for conductance the explained token's vector;
``attribution_storage: full`` keeps the whole tensor as well.
"""

SCHEMAS: dict[str, dict[str, str]] = {
    "token_attributions": {
        "example": "string",
        "target": "string",
        "source": "string",
        "layer": "Int64",
        "token_index": "int64",
        "token": "string",
        "attribution": "float64",
    },
    "token_distributions": {
        "example": "string",
        "target": "string",
        "layer": "int64",
        "token_index": "int64",
        "token": "string",
        "dim": "int64",
        "attribution": "float64",
    },
    "layer_summary": {
        "example": "string",
        "target": "string",
        "layer": "int64",
        "total_attribution": "float64",
        "entropy": "float64",
        "convergence_delta": "float64",
    },
    "predictions": {
        "example": "string",
        "predicted_start": "int64",
        "predicted_end": "int64",
        "predicted_answer": "string",
        "start_prob": "float64",
        "end_prob": "float64",
        "true_start": "int64",
        "true_end": "int64",
        "delta_start": "float64",
        "delta_end": "float64",
    },
    "convergence_deltas": {
        "example": "string",
        "target": "string",
        "source": "string",
        "layer": "Int64",
        "delta": "float64",
    },
    "attention_heads": {
        "example": "string",
        "layer": "int64",
        "head": "int64",
        "attention_entropy": "float64",
        "value_norm_mean": "float64",
        "conductance_norm_start": "float64",
        "conductance_norm_end": "float64",
    },
    "attention_matrices": {
        "example": "string",
        "quantity": "string",
        "layer": "int64",
        "head": "Int64",
        "from_index": "int64",
        "from_token": "string",
        "to_index": "int64",
        "to_token": "string",
        "value": "float64",
    },
    "value_norms": {
        "example": "string",
        "layer": "int64",
        "head": "int64",
        "token_index": "int64",
        "token": "string",
        "value_norm": "float64",
    },
    "word_input_conductance": {
        "example": "string",
        "target": "string",
        "layer": "int64",
        "token_index": "int64",
        "token": "string",
        "attribution": "float64",
    },
}
ATTENTION_TABLES = ("attention_heads", "attention_matrices", "value_norms", "word_input_conductance")
"""The tables of Part 2, written by the ``attention_tables`` step; the others by ``tables``."""
PART1_TABLES = tuple(table for table in SCHEMAS if table not in ATTENTION_TABLES)
"""The tables of Part 1, written by the ``tables`` step."""
EXAMPLE_FIGURE_TABLES = ("token_attributions", "token_distributions", "layer_summary", "predictions")
"""The tables an example's Part 1 figures read (Part 2's read :data:`ATTENTION_TABLES`)."""
SUMMARY_TABLES = ("token_attributions", "layer_summary", "convergence_deltas", "predictions")
"""The tables the summary figures read."""


def tables_of_run(attention: bool) -> list[str]:
    """Every table a run writes: Part 1's, and Part 2's with ``attention``."""
    return [*PART1_TABLES, *(ATTENTION_TABLES if attention else ())]


def example_figure_tables(attention: bool) -> list[str]:
    """The tables an example's figures read: Part 1's, and Part 2's with ``attention``."""
    return [*EXAMPLE_FIGURE_TABLES, *(ATTENTION_TABLES if attention else ())]
