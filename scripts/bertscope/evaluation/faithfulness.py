"""Faithfulness of the token maps for extractive QA: comprehensiveness, sufficiency, AOPC and leave-one-out τ.

Definitions (after ERASER, DeYoung et al. 2020, and ferret, adapted to a QA model's two outputs): the tokens an
attribution ranks highest (largest signed per-token sum first) are replaced by the reference token (``[PAD]``, or
``[MASK]``), so that positions and the predicted span stay where they were. For each k% of the removable tokens
(rounded up, at least one):

- comprehensiveness: p(x) − p(x with the top k% replaced), at the original predicted start and end;
- sufficiency: p(x) − p(x with every removable token but the top k% replaced);

with p the start probability at the predicted start, the end probability at the predicted end, and the span
probability (their product). AOPC is the mean over the k's. Each perturbed input's new prediction is compared with the
original one: exact match of the span, and token F1 (overlap of the two spans' token positions). A random ranking,
seeded by the setting's seeds and the example's id (reproducible, independent of the run's batches), gives the
baseline. τ-LOO is Kendall's τ between a source's scores and the drop from replacing each removable token alone.

Removable tokens: everything but ``[CLS]``/``[SEP]`` (``protect: special``), also without the predicted span
(``special_and_answer``), or every token (``none``). Every perturbed input runs without gradients, many rows per
forward pass, identical rows once.
"""

from __future__ import annotations

import math
import zlib

import numpy as np
import torch

from bertscope import TARGETS, BertscopeError
from bertscope.evaluation.ranks import kendall_tau
from bertscope.models.forward import run_on_input
from bertscope.pipeline.schema import check_allowed
from bertscope.tables.faithfulness import MEASURES, RANDOM_SOURCE

PROBABILITIES = ("start", "end", "span")


def removable_tokens(record: dict, protect: str) -> np.ndarray:
    """The token positions a perturbation may replace, by the ``faithfulness_protect`` setting.

    Args:
        record: the example's inputs record (``tokens``, ``question_length``, ``predicted_start``/``_end``).
        protect: ``special`` (keep ``[CLS]`` and both ``[SEP]``), ``special_and_answer`` (also the predicted span),
            or ``none``.

    Returns:
        (n,) int64 positions, ascending.
    """
    check_allowed("faithfulness_protect", protect)
    length = len(record["tokens"])
    keep = np.ones(length, dtype=bool)
    if protect != "none":
        first_sep = record["question_length"] + 1
        keep[[0, first_sep, length - 1]] = False
    if protect == "special_and_answer" and record["predicted_end"] >= record["predicted_start"]:
        keep[record["predicted_start"] : record["predicted_end"] + 1] = False
    return np.flatnonzero(keep)


def attribution_order(scores: np.ndarray, removable: np.ndarray) -> np.ndarray:
    """The removable positions from the highest score to the lowest (ties: the earlier position first).

    Args:
        scores: (L,) per-token attribution (the sum over the hidden dimension).
        removable: (n,) positions (:func:`removable_tokens`).

    Returns:
        (n,) positions.
    """
    return removable[np.argsort(-scores[removable], kind="stable")]


def random_order(removable: np.ndarray, seed: int, example: str) -> np.ndarray:
    """A random order of the removable positions, fixed by ``seed`` and the example's id.

    Args:
        removable: (n,) positions.
        seed: one of the ``faithfulness_random_seeds``.
        example: the example's id (so that examples get different orders, whatever batch they are in).

    Returns:
        (n,) positions.
    """
    rng = np.random.default_rng([seed, zlib.crc32(example.encode())])
    return rng.permutation(removable)


def removal_counts(removable: int, percents) -> list[int]:
    """Tokens replaced for each k%: ⌈k/100 · removable⌉, at least 1 and at most ``removable``."""
    return [min(removable, max(1, math.ceil(k * removable / 100))) for k in percents]


def perturbed_ids(input_ids: torch.Tensor, order: np.ndarray, counts, reference_id: int, measure: str):
    """The perturbed inputs of one ranking, one row per count.

    Args:
        input_ids: (L,) the input.
        order: (n,) removable positions, most important first.
        counts: tokens ranked first per row.
        reference_id: the replacement token's id.
        measure: ``comprehensiveness`` (the first ``count`` replaced) or ``sufficiency`` (the others replaced).

    Returns:
        (len(counts), L) long.
    """
    rows = input_ids.unsqueeze(0).repeat(len(counts), 1)
    positions = torch.as_tensor(order, dtype=torch.long, device=input_ids.device)
    for row, count in enumerate(counts):
        replaced = positions[:count] if measure == "comprehensiveness" else positions[count:]
        rows[row, replaced] = reference_id
    return rows


def leave_one_out_ids(input_ids: torch.Tensor, removable: np.ndarray, reference_id: int) -> torch.Tensor:
    """(n, L): the input with each removable token alone replaced by the reference."""
    rows = input_ids.unsqueeze(0).repeat(len(removable), 1)
    index = torch.arange(len(removable), device=input_ids.device)
    rows[index, torch.as_tensor(removable, dtype=torch.long, device=input_ids.device)] = reference_id
    return rows


@torch.no_grad()
def predict_rows(model, tensors: dict, ids: torch.Tensor, predicted: tuple[int, int], rows_per_pass: int) -> dict:
    """The model on many perturbed inputs of one example, without gradients, ``rows_per_pass`` rows a forward pass
    (each distinct row once).

    Args:
        model: the QA model.
        tensors: the example's tensors, (1, L) each (token types, positions and mask are shared by every row).
        ids: (N, L) perturbed input ids.
        predicted: the original predicted start and end.
        rows_per_pass: rows per forward pass.

    Returns:
        ``start``, ``end``, ``span``: (N,) probabilities at the original predicted positions; ``predicted_start``,
        ``predicted_end``: (N,) the perturbed inputs' own argmax positions.
    """
    unique, inverse = torch.unique(ids, dim=0, return_inverse=True)
    start, end = predicted
    parts = []
    for begin in range(0, len(unique), rows_per_pass):
        chunk = unique[begin : begin + rows_per_pass]
        shared = {
            name: tensors[name].expand(len(chunk), -1) for name in ("token_type_ids", "position_ids", "attention_mask")
        }
        output = run_on_input(model, {"input_ids": chunk, **shared})
        mask = shared["attention_mask"] == 0
        start_logits = output.start_logits.float().masked_fill(mask, float("-inf"))
        end_logits = output.end_logits.float().masked_fill(mask, float("-inf"))
        start_prob = torch.softmax(start_logits, dim=1)[:, start]
        end_prob = torch.softmax(end_logits, dim=1)[:, end]
        parts.append(torch.stack([start_prob, end_prob, start_logits.argmax(1), end_logits.argmax(1)], dim=1))
    values = torch.cat(parts)[inverse].double().cpu().numpy()
    return {
        "start": values[:, 0],
        "end": values[:, 1],
        "span": values[:, 0] * values[:, 1],
        "predicted_start": values[:, 2].astype(np.int64),
        "predicted_end": values[:, 3].astype(np.int64),
    }


def span_f1(start: np.ndarray, end: np.ndarray, original: tuple[int, int]) -> np.ndarray:
    """Token F1 of predicted spans against the original prediction, on token positions (an empty span, end before
    start, matches only an empty span).

    Args:
        start: (N,) predicted starts.
        end: (N,) predicted ends.
        original: the original predicted start and end.

    Returns:
        (N,) F1 in [0, 1].
    """
    length = np.maximum(end - start + 1, 0)
    original_length = max(original[1] - original[0] + 1, 0)
    overlap = np.maximum(np.minimum(end, original[1]) - np.maximum(start, original[0]) + 1, 0)
    overlap = np.where((length > 0) & (original_length > 0), overlap, 0)
    both_empty = (length == 0) & (original_length == 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.where(overlap > 0, 2 * overlap / (length + original_length), 0.0)
    return np.where(both_empty, 1.0, f1)


def reference_token_id(tokenizer, reference: str) -> int:
    """The replacement token's id: ``pad`` ([PAD], the attributions' reference) or ``mask`` ([MASK])."""
    check_allowed("faithfulness_reference", reference)
    token_id = tokenizer.pad_token_id if reference == "pad" else tokenizer.mask_token_id
    if token_id is None:
        raise BertscopeError(
            f"config field 'faithfulness_reference': the tokenizer has no [{reference.upper()}] token. "
            "Fix: use the other value (pad or mask)"
        )
    return int(token_id)


def evaluate_example(
    model,
    tensors: dict,
    record: dict,
    scores: dict,
    *,
    example: str,
    percents,
    reference_id: int,
    protect: str,
    seeds,
    rows_per_pass: int,
) -> dict[str, list[dict]]:
    """Comprehensiveness, sufficiency, AOPC and τ-LOO of every source of one example, and the random baseline.

    Args:
        model: the QA model (eval mode, on the tensors' device).
        tensors: the example's input tensors, (1, L) each.
        record: its inputs record (tokens, question length, the original prediction).
        scores: ``{(source, layer): (2, L)}`` per-token attributions for start and end (``layer`` None for the
            embedding sources).
        example: the example's id.
        percents: the k's, percent of the removable tokens.
        reference_id: the replacement token's id (:func:`reference_token_id`).
        protect: what is never replaced (:func:`removable_tokens`).
        seeds: the random baseline's seeds.
        rows_per_pass: perturbed rows per forward pass.

    Returns:
        ``curves`` (one dict per source, target, measure and k), ``aopc`` (per source, target and measure) and
        ``loo`` (per source and target) rows, as the ``faithfulness_curves``, ``faithfulness_aopc`` and
        ``loo_agreement`` tables hold them (:mod:`bertscope.tables.schemas`).
    """
    removable = removable_tokens(record, protect)
    original = (record["predicted_start"], record["predicted_end"])
    if len(removable) == 0:
        return {"curves": [], "aopc": [], "loo": []}
    input_ids = tensors["input_ids"][0]
    counts = removal_counts(len(removable), percents)

    # Every ranking's perturbed rows, and the leave-one-out rows, go to the model together.
    rankings = []  # (source, layer, target, seed, order)
    for (source, layer), values in scores.items():
        for target_index, target in enumerate(TARGETS):
            rankings.append(
                (source, layer, target, None, attribution_order(np.asarray(values)[target_index], removable))
            )
    for seed in seeds:
        rankings.append((RANDOM_SOURCE, None, None, int(seed), random_order(removable, int(seed), example)))
    blocks = [
        perturbed_ids(input_ids, order, counts, reference_id, measure) for *_, order in rankings for measure in MEASURES
    ]
    loo_rows = leave_one_out_ids(input_ids, removable, reference_id)
    full = torch.cat([input_ids.unsqueeze(0), *blocks, loo_rows])
    predictions = predict_rows(model, tensors, full, original, rows_per_pass)
    base = {name: predictions[name][0] for name in PROBABILITIES}
    drops = {name: base[name] - predictions[name] for name in PROBABILITIES}
    exact = (predictions["predicted_start"] == original[0]) & (predictions["predicted_end"] == original[1])
    f1 = span_f1(predictions["predicted_start"], predictions["predicted_end"], original)

    curves, aopc = [], []
    row = 1
    for source, layer, target, seed, _ in rankings:
        for measure in MEASURES:
            block = slice(row, row + len(counts))
            row += len(counts)
            key = {"example": example, "source": source, "layer": layer, "target": target, "seed": seed}
            for offset, (k, count) in enumerate(zip(percents, counts, strict=True)):
                index = block.start + offset
                curves.append(
                    {
                        **key,
                        "measure": measure,
                        "percent": k,
                        "tokens_replaced": count if measure == "comprehensiveness" else len(removable) - count,
                        **{f"{name}_drop": float(drops[name][index]) for name in PROBABILITIES},
                        "exact_match": bool(exact[index]),
                        "token_f1": float(f1[index]),
                    }
                )
            aopc.append(
                {
                    **key,
                    "measure": measure,
                    **{f"aopc_{name}": float(drops[name][block].mean()) for name in PROBABILITIES},
                }
            )
    loo_drops = {name: drops[name][row:] for name in ("start", "end")}
    loo = [
        {
            "example": example,
            "source": source,
            "layer": layer,
            "target": target,
            "tokens": len(removable),
            "kendall_tau": kendall_tau(np.asarray(values)[target_index][removable], loo_drops[target]),
        }
        for (source, layer), values in scores.items()
        for target_index, target in enumerate(TARGETS)
    ]
    return {"curves": curves, "aopc": aopc, "loo": loo}


def rows_per_pass(config, sequence_length: int, budget_bytes: float) -> int:
    """Perturbed rows per forward pass within ``budget_bytes`` of activations.

    Without gradients only one layer's activations live at a time: per token about 8 hidden-size vectors, one
    intermediate-size one and the attention scores of two heads' worth of copies.

    Args:
        config: the model's config (``hidden_size``, the family's intermediate size, ``num_attention_heads``).
        sequence_length: L.
        budget_bytes: the activation budget (:func:`bertscope.attribution.part1.activation_memory_budget`).

    Returns:
        At least 1.
    """
    from bertscope.models.families import intermediate_size

    floats_per_token = (
        8 * config.hidden_size + intermediate_size(config) + 2 * config.num_attention_heads * sequence_length
    )
    return max(1, int(budget_bytes // (4 * floats_per_token * sequence_length)))


def source_scores(example: str, embeddings, subembeddings, conductance, attention=()) -> dict:
    """Every source's per-token attribution of one example, from the attribution files.

    Args:
        example: the example's id.
        embeddings: the embedding LIG file (:class:`~bertscope.pipeline.tensor_io.BatchFile`).
        subembeddings: the sub-embedding LIG file (its record names the sub-embeddings the model's family has).
        conductance: the conductance files of the layer groups.
        attention: Part 2's files; their word-input conductance where the example has it (figure examples).

    Returns:
        ``{(source, layer): (2, L)}`` float64 sums over the hidden dimension, start and end; ``layer`` is None for
        the embedding sources.
    """
    from bertscope.attribution.stored import layer_key

    scores = {("embeddings", None): embeddings.tensor(example, "token_sums")}
    for name in subembeddings.records[example]["subembeddings"]:
        scores[(name, None)] = subembeddings.tensor(example, f"{name}.token_sums")
    for source, files, name in (
        ("layer", conductance, "token_sums"),
        ("word_input_layer", attention, "output_token_sums"),
    ):
        for group in files:
            record = group.records[example]
            if source == "word_input_layer" and not record.get("matrices"):
                continue
            for layer in record["layers"]:
                scores[(source, layer)] = group.tensor(example, f"{layer_key(layer)}.{name}")
    return {key: np.asarray(value, dtype=np.float64) for key, value in sorted(scores.items(), key=_source_order)}


def _source_order(item):
    (source, layer), _ = item
    order = ("embeddings", "word", "token_type", "position", "layer", "word_input_layer")
    return order.index(source), layer or 0
