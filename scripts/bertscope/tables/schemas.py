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
    true_end, delta_start, delta_end, then the scored prediction: has_answer, answer, span_start, span_end,
    span_answer, span_char_begin, span_char_end, null_score_diff, exact, f1, outcome, window, window_count,
    context_char_begin, context_char_end — per example. predicted_* is the tutorial's prediction (independent argmaxes,
    the one explained); deltas are the embedding LIG convergence deltas; true_start = true_end = 0 (``[CLS]``) when
    the input holds no gold answer. has_answer: the question has a gold answer; answer: its first ("" if none);
    span_*: the standard decoding (:mod:`bertscope.evaluation.squad`), token indices into the input (0 for the null
    answer "") and characters of the context (null for the null answer); null_score_diff: the null answer's score
    minus the best span's (the null answer wins when > 0); exact (0/1), f1 (0..1): the SQuAD v2.0 scores of
    span_answer against every gold answer; outcome: correct, wrong or abstained; window: the explained window
    (0-based) of window_count; context_char_begin/end: the characters of the context that window holds, so that
    input token ``i`` of the context is context character ``context_char_begin`` onwards, as the inputs record's
    ``token_offsets`` give per token. With ``explain_windows: all`` a long context's other windows are units of
    their own in every table (``example`` = ``{example}#window{k}``: :func:`bertscope.data.windows.window_unit`),
    with their own tutorial prediction and true span, the example's scored answer (span_start/end its tokens in
    that window, 0 when the window does not hold them) and their window's index and characters.
``convergence_deltas``: example, target, source, layer, delta, n_steps, relative_delta, converged — every
    attribution's convergence delta, the steps it used and its relative delta |delta| / |F(input) − F(reference)|;
    converged: with ``n_steps: auto``, whether the example's attribution met ``n_steps_tolerance`` (every target, and
    every layer of its conductance job) before ``n_steps_max``; null under an integer ``n_steps`` (not judged).
``convergence_tries``: example, target, source, layer, try, n_steps, relative_delta — every try of every
    attribution (1-based ``try``): one per attribution under an integer ``n_steps``, the doubling under ``auto``.

Part 2 (``attention: true``; :mod:`bertscope.attribution.part2`):

``attention_heads``: example, layer, head, attention_entropy, value_norm_mean, conductance_norm_start,
    conductance_norm_end, n_steps, converged — per example, layer and head (every example): the mean entropy (bits)
    of the head's attention rows, the mean ‖f(x)‖ over tokens, and the Frobenius norm of the conductance of its
    attention probabilities for each target; the steps of the example's Part 2 job and, with ``n_steps: auto``,
    whether every layer output's conductance of the job met ``n_steps_tolerance`` (null under an integer
    ``n_steps``; the tries' relative deltas are in the attention files' records).
``attention_matrices``: example, quantity, layer, head, from_index, from_token, to_index, to_token, value — per
    token pair, for the examples that get figures (``figure_examples``). ``quantity`` with a head (1-based), for
    ``attention_layer`` only: attention (α), conductance_start, conductance_end (of α), alpha_value_norm
    (‖α f(x)‖); with a null head, for every layer: attention_head_norm, conductance_start_head_norm,
    conductance_end_head_norm (L2 norms over heads) and summed_alpha_value_norm (‖Σ_h α f(x)‖).
``value_norms``: example, layer, head, token_index, token, value_norm — ‖f(x)‖ per token, figure examples.
``word_input_conductance``: example, target, layer, token_index, token, attribution — Part 2's conductance of
    each layer's output with the word embeddings as input, summarised as in Part 1, figure examples.

Faithfulness (``faithfulness: true``; :mod:`bertscope.evaluation.faithfulness`), every example; ``source`` is
embeddings | word | token_type | position | layer (conductance, ``layer`` 1-based) | word_input_layer (Part 2's
word-input conductance, figure examples) | random (the baseline: ``target`` null, ``seed`` set; null otherwise);
``target`` is the target whose ranking was perturbed:

``faithfulness_curves``: example, source, layer, target, seed, measure, percent, tokens_replaced, start_drop,
    end_drop, span_drop, exact_match, token_f1 — per ranking, measure (comprehensiveness | sufficiency) and k
    (``percent`` of the removable tokens): the drop of the start, end and span probability at the original
    predicted positions, and the perturbed input's prediction against the original one (exact match, token F1).
``faithfulness_aopc``: example, source, layer, target, seed, measure, aopc_start, aopc_end, aopc_span — the mean of
    each drop over the k's.
``loo_agreement``: example, source, layer, target, tokens, kendall_tau — Kendall's τ-b between the source's
    per-token attribution and the drop of the target's probability when each removable token alone is replaced.
``sanity_cascade``: example, stage, stage_index, target, spearman, spearman_abs — per cascade stage (original, qa_head,
    layer_NN from the top down, embeddings; cumulative) and target: the Spearman correlation of the embedding LIG's
    per-token sums with the original model's, signed and of their absolute values (for the examples of
    ``sanity_check``; a batch without any has an empty part).
``convergence_ladder``: example, target, n_steps, delta, relative_delta — the embedding LIG of every figure example
    at each step count of the ladder n_steps_min, twice that, ..., n_steps_max (whatever ``n_steps`` is): its
    convergence delta and relative delta (the convergence figure).

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
        # Scored predictions (issue 19).
        "has_answer": "bool",
        "answer": "string",
        "span_start": "int64",
        "span_end": "int64",
        "span_answer": "string",
        "span_char_begin": "Int64",
        "span_char_end": "Int64",
        "null_score_diff": "float64",
        "exact": "int64",
        "f1": "float64",
        "outcome": "string",
        "window": "int64",
        "window_count": "int64",
        "context_char_begin": "int64",
        "context_char_end": "int64",
    },
    "convergence_deltas": {
        "example": "string",
        "target": "string",
        "source": "string",
        "layer": "Int64",
        "delta": "float64",
        # n_steps: auto (issue 20).
        "n_steps": "int64",
        "relative_delta": "float64",
        "converged": "boolean",
    },
    "convergence_tries": {
        "example": "string",
        "target": "string",
        "source": "string",
        "layer": "Int64",
        "try": "int64",
        "n_steps": "int64",
        "relative_delta": "float64",
    },
    "attention_heads": {
        "example": "string",
        "layer": "int64",
        "head": "int64",
        "attention_entropy": "float64",
        "value_norm_mean": "float64",
        "conductance_norm_start": "float64",
        "conductance_norm_end": "float64",
        # n_steps: auto (issue 20).
        "n_steps": "int64",
        "converged": "boolean",
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
    # Faithfulness (issue 20)
    "faithfulness_curves": {
        "example": "string",
        "source": "string",
        "layer": "Int64",
        "target": "string",
        "seed": "Int64",
        "measure": "string",
        "percent": "float64",
        "tokens_replaced": "int64",
        "start_drop": "float64",
        "end_drop": "float64",
        "span_drop": "float64",
        "exact_match": "bool",
        "token_f1": "float64",
    },
    "faithfulness_aopc": {
        "example": "string",
        "source": "string",
        "layer": "Int64",
        "target": "string",
        "seed": "Int64",
        "measure": "string",
        "aopc_start": "float64",
        "aopc_end": "float64",
        "aopc_span": "float64",
    },
    "loo_agreement": {
        "example": "string",
        "source": "string",
        "layer": "Int64",
        "target": "string",
        "tokens": "int64",
        "kendall_tau": "float64",
    },
    "sanity_cascade": {
        "example": "string",
        "stage": "string",
        "stage_index": "int64",
        "target": "string",
        "spearman": "float64",
        "spearman_abs": "float64",
    },
    "convergence_ladder": {
        "example": "string",
        "target": "string",
        "n_steps": "int64",
        "delta": "float64",
        "relative_delta": "float64",
    },
}
# Summaries across the data set by outcome (issue 19): one Parquet file each, written by the outcome_summary step.
OUTCOME_SCHEMAS: dict[str, dict[str, str]] = {
    "outcome_shares": {
        "has_answer": "bool",
        "outcome": "string",
        "target": "string",
        "source": "string",
        "layer": "Int64",
        "region": "string",
        "examples": "int64",
        "share": "float64",
        "delta": "float64",
    },
}
"""``results/summaries/outcome_shares.parquet`` (:mod:`bertscope.tables.outcomes`): one row per group (has_answer ×
outcome: correct, wrong, abstained), target, source, layer (null but for source ``layer``) and region (question,
context, predicted span, gold span): ``examples`` in the group, ``share``: the group's mean share of an attribution's
summed |attribution| on the region's tokens, ``delta``: that mean minus the mean over every example."""

ATTENTION_TABLES = ("attention_heads", "attention_matrices", "value_norms", "word_input_conductance")
"""The tables of Part 2 (``attention: true``), written by the ``tables`` step with Part 1's."""
FAITHFULNESS_TABLES = ("faithfulness_curves", "faithfulness_aopc", "loo_agreement")
"""The tables of the ``faithfulness`` step (``faithfulness: true``)."""
SANITY_TABLES = ("sanity_cascade",)
"""The table of the ``sanity_cascade`` step, for the batches ``sanity_check`` covers."""
LADDER_TABLES = ("convergence_ladder",)
"""The table of the ``convergence_ladder`` step, for the batches that hold figure examples."""
PART1_TABLES = tuple(
    table for table in SCHEMAS if table not in (*ATTENTION_TABLES, *FAITHFULNESS_TABLES, *SANITY_TABLES, *LADDER_TABLES)
)
"""The tables of Part 1, written by the ``tables`` step."""
EXAMPLE_FIGURE_TABLES = ("token_attributions", "token_distributions", "layer_summary", "predictions")
"""The tables an example's Part 1 figures read (Part 2's read :data:`ATTENTION_TABLES`)."""
SUMMARY_TABLES = ("token_attributions", "layer_summary", "convergence_deltas", "predictions")
"""The tables the summary figures read."""


def tables_of_run(attention: bool, faithfulness: bool = False, sanity: bool = False, ladder: bool = False) -> list[str]:
    """Every table a run writes.

    Args:
        attention: the ``attention`` setting (Part 2 on).
        faithfulness: the ``faithfulness`` setting.
        sanity: whether any example gets the sanity cascade (``sanity_check``).
        ladder: whether any example gets figures (the convergence ladder).

    Returns:
        Part 1's table names, then Part 2's with ``attention``, the faithfulness tables with ``faithfulness``, the
        sanity cascade's with ``sanity``, the convergence ladder's with ``ladder``.
    """
    optional = (
        *(FAITHFULNESS_TABLES if faithfulness else ()),
        *(SANITY_TABLES if sanity else ()),
        *(LADDER_TABLES if ladder else ()),
    )
    return [*PART1_TABLES, *(ATTENTION_TABLES if attention else ()), *optional]


def example_figure_tables(attention: bool) -> list[str]:
    """The tables an example's figures read.

    Args:
        attention: the ``attention`` setting (Part 2 on).

    Returns:
        The Part 1 tables the example figures read, then Part 2's with ``attention``.
    """
    return [*EXAMPLE_FIGURE_TABLES, *(ATTENTION_TABLES if attention else ())]
