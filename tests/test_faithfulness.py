"""Faithfulness, τ-LOO and the rank correlations (bertscope.evaluation)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bertscope.evaluation import faithfulness as fa
from bertscope.evaluation.ranks import average_ranks, kendall_tau, spearman

KEY_TOKEN = "include"


@pytest.fixture(scope="module")
def key_token_model(tiny_model_dir):
    """A hand-built model whose answer is the one token 'include': its word embedding alone carries dimension 0,
    the encoder passes the embeddings through (attention and feed-forward outputs zero, biases non-zero), and the QA
    head reads dimension 0."""
    from conftest import TUTORIAL_EXAMPLE
    from transformers import BertForQuestionAnswering

    from bertscope.data.qa_inputs import encode_example
    from bertscope.models.loading import load_tokenizer

    tokenizer = load_tokenizer(tiny_model_dir)
    model = BertForQuestionAnswering.from_pretrained(tiny_model_dir).eval()
    with torch.no_grad():
        embeddings = model.bert.embeddings
        for table in (embeddings.word_embeddings, embeddings.position_embeddings, embeddings.token_type_embeddings):
            table.weight.zero_()
        embeddings.word_embeddings.weight[:, 1] = 0.1  # every token the same, dimension 0 aside
        embeddings.word_embeddings.weight[tokenizer.convert_tokens_to_ids(KEY_TOKEN), 0] = 3.0
        embeddings.LayerNorm.bias.fill_(0.05)
        for layer in model.bert.encoder.layer:
            layer.attention.output.dense.weight.zero_()
            layer.attention.output.dense.bias.fill_(0.01)
            layer.output.dense.weight.zero_()
            layer.output.dense.bias.fill_(0.01)
        model.qa_outputs.weight.zero_()
        model.qa_outputs.weight[:, 0] = 4.0
        model.qa_outputs.bias.copy_(torch.tensor([0.2, -0.1]))
    tensors = encode_example(tokenizer, "tutorial", TUTORIAL_EXAMPLE, 64).tensors
    output = model(**{k: tensors[k] for k in ("input_ids", "token_type_ids", "position_ids", "attention_mask")})
    start, end = int(output.start_logits.argmax()), int(output.end_logits.argmax())
    tokens = tokenizer.convert_ids_to_tokens(tensors["input_ids"][0].tolist())
    record = {
        "tokens": tokens,
        "question_length": tokens.index("[SEP]") - 1,
        "predicted_start": start,
        "predicted_end": end,
    }
    return model, tokenizer, tensors, record


def _evaluate(model, tensors, record, scores, **options):
    settings = {
        "example": "tutorial",
        "percents": [1, 5, 10, 20, 50],
        "reference_id": 0,
        "protect": "special",
        "seeds": [0, 1, 2],
        "rows_per_pass": 16,
        **options,
    }
    return fa.evaluate_example(model, tensors, record, scores, **settings)


def test_key_token_ranks_first_and_its_removal_flips_the_answer(key_token_model):
    from bertscope.attribution.part1 import embedding_lig

    model, _, tensors, record = key_token_model
    key = record["tokens"].index(KEY_TOKEN)
    assert (record["predicted_start"], record["predicted_end"]) == (key, key)
    attributions, _ = embedding_lig(model, tensors, n_steps=20, internal_batch_size=8)
    sums = attributions.sum(-1).numpy()
    assert sums.argmax(axis=1).tolist() == [key, key]

    result = _evaluate(model, tensors, record, {("embeddings", None): sums})
    curves = {
        (row["source"], row["target"], row["seed"], row["measure"], row["percent"]): row for row in result["curves"]
    }
    top1 = curves[("embeddings", "start", None, "comprehensiveness", 1)]
    assert top1["tokens_replaced"] == 1
    assert not top1["exact_match"] and top1["token_f1"] == 0.0
    assert top1["start_drop"] > 0.5
    # A random token is the key one once in 23 draws: the baseline is the mean over seeds.
    random = [curves[("random", None, seed, "comprehensiveness", 1)]["start_drop"] for seed in (0, 1, 2)]
    assert np.mean(random) < 0.5 * top1["start_drop"]
    # Keeping only the key token keeps the answer: sufficiency at 1% loses nothing of the prediction.
    kept = curves[("embeddings", "start", None, "sufficiency", 1)]
    assert kept["exact_match"] and kept["token_f1"] == 1.0
    aopc = {(row["source"], row["target"], row["seed"], row["measure"]): row for row in result["aopc"]}
    assert aopc[("embeddings", "start", None, "comprehensiveness")]["aopc_span"] > np.mean(
        [aopc[("random", None, seed, "comprehensiveness")]["aopc_span"] for seed in (0, 1, 2)]
    )


def test_loo_tau_is_one_for_the_leave_one_out_drops_themselves(key_token_model):
    model, _, tensors, record = key_token_model
    removable = fa.removable_tokens(record, "special")
    ids = fa.leave_one_out_ids(tensors["input_ids"][0], removable, 0)
    start = record["predicted_start"], record["predicted_end"]
    drops = fa.predict_rows(model, tensors, ids, start, 7)
    base = fa.predict_rows(model, tensors, tensors["input_ids"], start, 7)
    scores = np.zeros((2, tensors["input_ids"].shape[1]))
    scores[0, removable] = base["start"][0] - drops["start"]
    scores[1, removable] = -(base["end"][0] - drops["end"])
    loo = {row["target"]: row for row in _evaluate(model, tensors, record, {("embeddings", None): scores})["loo"]}
    assert loo["start"]["kendall_tau"] == pytest.approx(1.0)
    assert loo["end"]["kendall_tau"] == pytest.approx(-1.0)
    assert loo["start"]["tokens"] == len(removable)


def test_predict_rows_same_in_any_chunking_and_equal_to_the_model(key_token_model):
    model, _, tensors, record = key_token_model
    ids = fa.leave_one_out_ids(tensors["input_ids"][0], fa.removable_tokens(record, "special"), 0)
    ids = torch.cat([ids, ids[:3]])  # repeated rows are computed once, answered for each
    original = (record["predicted_start"], record["predicted_end"])
    one, many = fa.predict_rows(model, tensors, ids, original, 1), fa.predict_rows(model, tensors, ids, original, 64)
    for name in one:
        np.testing.assert_allclose(one[name], many[name], rtol=1e-6)
    with torch.no_grad():
        logits = model(ids[:1], token_type_ids=tensors["token_type_ids"], position_ids=tensors["position_ids"])
    assert one["start"][0] == pytest.approx(float(torch.softmax(logits.start_logits, 1)[0, original[0]]), rel=1e-6)
    assert one["span"][0] == pytest.approx(one["start"][0] * one["end"][0])


def test_random_baseline_reproducible_by_seed():
    removable = np.arange(1, 30)
    first = fa.random_order(removable, 3, "ex1")
    assert np.array_equal(first, fa.random_order(removable, 3, "ex1"))
    assert not np.array_equal(first, fa.random_order(removable, 4, "ex1"))
    assert not np.array_equal(first, fa.random_order(removable, 3, "ex2"))
    assert sorted(first.tolist()) == removable.tolist()


def test_removable_tokens_and_counts():
    record = {"tokens": ["[CLS]", "q", "[SEP]", "a", "b", "c", "[SEP]"], "question_length": 1}
    record.update(predicted_start=4, predicted_end=5)
    assert fa.removable_tokens(record, "special").tolist() == [1, 3, 4, 5]
    assert fa.removable_tokens(record, "special_and_answer").tolist() == [1, 3]
    assert fa.removable_tokens(record, "none").tolist() == list(range(7))
    assert fa.removal_counts(40, [1, 5, 10, 20, 50]) == [1, 2, 4, 8, 20]
    assert fa.removal_counts(3, [1, 50, 100]) == [1, 2, 3]
    with pytest.raises(Exception, match="faithfulness_protect"):
        fa.removable_tokens(record, "answer")


def test_perturbed_ids_comprehensiveness_and_sufficiency():
    ids = torch.tensor([2, 10, 11, 12, 13, 3])
    order = np.array([3, 1, 4, 2])
    comprehensive = fa.perturbed_ids(ids, order, [1, 2], 0, "comprehensiveness")
    assert comprehensive.tolist() == [[2, 10, 11, 0, 13, 3], [2, 0, 11, 0, 13, 3]]
    sufficient = fa.perturbed_ids(ids, order, [1, 2], 0, "sufficiency")
    assert sufficient.tolist() == [[2, 0, 0, 12, 0, 3], [2, 10, 0, 12, 0, 3]]


def test_span_f1():
    f1 = fa.span_f1(np.array([3, 3, 5, 4, 6]), np.array([5, 4, 6, 3, 9]), (3, 5))
    np.testing.assert_allclose(f1, [1.0, 0.8, 0.4, 0.0, 0.0])
    assert fa.span_f1(np.array([4]), np.array([3]), (5, 4)).tolist() == [1.0]


def test_rank_correlations_known_values():
    assert average_ranks(np.array([10, 20, 20, 5])).tolist() == [2.0, 3.5, 3.5, 1.0]
    # τ-b for x = 1..5, y = (1, 3, 2, 5, 4): 8 concordant, 2 discordant pairs of 10.
    assert kendall_tau(np.arange(5), np.array([1, 3, 2, 5, 4])) == pytest.approx(0.6)
    # With ties in x: (1, 2, 2, 3) against (1, 2, 3, 4): S = 5, n0 = 6, ties 1 → 5 / sqrt(5 · 6).
    assert kendall_tau(np.array([1, 2, 2, 3]), np.arange(4)) == pytest.approx(5 / np.sqrt(30))
    # ρ = 1 − 6 Σd² / (n(n² − 1)) = 1 − 6·4/120.
    assert spearman(np.arange(5), np.array([1, 3, 2, 5, 4])) == pytest.approx(0.8)
    assert spearman(np.arange(5), -(np.arange(5) ** 3)) == pytest.approx(-1.0)
    assert np.isnan(kendall_tau(np.ones(4), np.arange(4)))


def _predicted_positions(model, tensors):
    from bertscope.models.forward import run_on_input

    with torch.no_grad():
        output = run_on_input(model, tensors)
    return torch.tensor([[int(output.start_logits.argmax()), int(output.end_logits.argmax())]])


def test_predicted_logit_equals_max_logit_when_the_argmax_never_moves(key_token_model):
    from bertscope.attribution.part1 import embedding_lig, layer_conductance
    from bertscope.models.forward import EXPLAINED_POSITIONS

    model, _, tensors, _ = key_token_model
    fixed = {**tensors, EXPLAINED_POSITIONS: _predicted_positions(model, tensors)}
    # Along the path the key token's logits lead (at the reference every position ties): the maximum is the logit at
    # the predicted position all the way.
    torch.testing.assert_close(embedding_lig(model, fixed, 8, 64), embedding_lig(model, tensors, 8, 64))
    fixed_conductance = layer_conductance(model, fixed, [1], 8, 64)
    torch.testing.assert_close(fixed_conductance, layer_conductance(model, tensors, [1], 8, 64))


def test_predicted_logit_differs_where_the_argmax_moves(tiny_model_dir, tensors):
    from bertscope.attribution.part1 import embedding_lig
    from bertscope.attribution.part2 import attention_conductance
    from bertscope.models.forward import EXPLAINED_POSITIONS
    from bertscope.models.loading import load_model

    model = load_model(tiny_model_dir, torch.device("cpu"), attention_weights=True)
    fixed = {**tensors, EXPLAINED_POSITIONS: _predicted_positions(model, tensors)}
    max_logit, _ = embedding_lig(model, tensors, 16, 64)
    predicted, _ = embedding_lig(model, fixed, 16, 64)
    assert not torch.allclose(max_logit, predicted)
    outputs, _ = attention_conductance(model, fixed, [1], 8, 64)
    outputs_max, _ = attention_conductance(model, tensors, [1], 8, 64)
    assert not torch.allclose(outputs[1], outputs_max[1])


def test_with_target_adds_the_predicted_positions_only_for_predicted_logit():
    from bertscope.attribution.job import with_target
    from bertscope.models.forward import EXPLAINED_POSITIONS

    tensors = {"input_ids": torch.zeros(2, 5, dtype=torch.long)}  # a group of two examples
    records = [{"predicted_start": 2, "predicted_end": 4}, {"predicted_start": 1, "predicted_end": 1}]
    assert with_target(tensors, records, "max_logit") is tensors
    assert with_target(tensors, records, "predicted_logit")[EXPLAINED_POSITIONS].tolist() == [[2, 4], [1, 1]]
    with pytest.raises(Exception, match="'target'"):
        with_target(tensors, records, "argmax")


def test_faithfulness_figures_draw_every_source_in_order(tmp_path):
    import pandas as pd

    from bertscope.figures.faithfulness import FIGURES, curve_means, draw_faithfulness, loo_labels

    curves = pd.DataFrame(
        [
            {"example": e, "source": s, "layer": layer, "target": t, "seed": seed, "measure": m, "percent": k}
            | {"span_drop": value}
            for e, value in (("a", 0.2), ("b", 0.4))
            for s, layer, t, seed in (
                ("embeddings", None, "start", None),
                ("layer", 2, "end", None),
                ("random", None, None, 0),
            )
            for m in ("comprehensiveness", "sufficiency")
            for k in (1, 50)
        ]
    )
    means = curve_means(curves)
    assert (
        means[(means["source"] == "embeddings") & (means["percent"] == 1)]["span_drop"].tolist()
        == [pytest.approx(0.3)] * 2
    )
    assert set(means["examples"]) == {2}
    loo = pd.DataFrame(
        {
            "example": "a",
            "source": ["word_input_layer", "layer", "layer", "embeddings"],
            "layer": pd.array([1, 2, 1, None], dtype="Int64"),
            "target": "start",
            "kendall_tau": [0.1, 0.2, 0.3, 0.4],
        }
    )
    assert loo_labels(loo) == [("embeddings", None), ("layer", 1), ("layer", 2), ("word_input_layer", 1)]
    outputs = {stem: [tmp_path / f"{stem}.png"] for stem in FIGURES}
    draw_faithfulness(curves, loo, outputs, "footer", "over 2 examples")
    assert all(path[0].stat().st_size > 0 for path in outputs.values())
