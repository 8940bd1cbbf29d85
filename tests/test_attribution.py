"""Numerics of the attribution step functions on a tiny random BERT: completeness, batching, equivalence, and what
the attribution files keep of each attribution."""

from __future__ import annotations

import re
from functools import partial

import numpy as np
import pytest
import torch
from captum.attr import LayerConductance, LayerIntegratedGradients

from bertscope import BertscopeError
from bertscope.attribution.captum_extensions import MultiLayerConductance, first_target_rows
from bertscope.attribution.part1 import (
    AUTO_BATCH_MEMORY_BYTES,
    activation_memory_budget,
    auto_internal_batch_size,
    conductance_embeddings,
    embedding_lig,
    layer_conductance,
    path_attribution,
    per_target,
    subembedding_lig,
)
from bertscope.attribution.stored import stored_summary
from bertscope.data.qa_inputs import encode_example
from bertscope.models.forward import forward_from_embeddings, forward_from_ids
from bertscope.models.loading import load_model, load_tokenizer
from bertscope.tables.part1 import attribution_pmf, distribution_rows, entropy_bits, layer_summary_rows, summarize

N_STEPS = 50


@pytest.fixture(scope="module")
def model(tiny_model_dir):
    torch.manual_seed(0)
    return load_model(tiny_model_dir, torch.device("cpu"))


def test_the_tiny_model_has_no_zero_bias_and_no_trivial_layernorm(model):
    """A dropped bias must change the numbers the tests compare (conftest.perturb_biases)."""
    parameters = dict(model.named_parameters())
    biases = [name for name in parameters if name.endswith("bias")]
    assert len(biases) >= 8 * model.config.num_hidden_layers
    assert all(parameters[name].abs().min() > 0 for name in biases)
    layer_norms = [name for name in parameters if "LayerNorm.weight" in name]
    assert layer_norms and all((parameters[name] != 1).all() for name in layer_norms)


@pytest.fixture(scope="module")
def corrected_tensors(tiny_model_dir):
    """The tutorial example with BERT's token types (the first [SEP] in segment 0)."""
    from conftest import TUTORIAL_EXAMPLE

    tokenizer = load_tokenizer(tiny_model_dir)
    return encode_example(tokenizer, "tutorial", TUTORIAL_EXAMPLE, 64, procedure="corrected").tensors


@torch.no_grad()
def output_difference(model, tensors) -> torch.Tensor:
    """F(input) − F(reference) for [start, end], with the reference built as for LIG on the embeddings."""
    forward = forward_from_ids(model)
    args = (tensors["token_type_ids"], tensors["position_ids"], tensors["attention_mask"])
    return (forward(tensors["input_ids"], *args) - forward(tensors["ref_input_ids"], *args))[0]


def test_embedding_lig_is_complete(model, tensors):
    attributions, delta = embedding_lig(model, tensors, N_STEPS, None)
    assert attributions.shape == (2, tensors["input_ids"].shape[1], model.config.hidden_size)
    difference = output_difference(model, tensors)
    assert difference.abs().min() > 1e-3, "the test needs targets whose output actually changes"
    totals = attributions.sum(dim=(1, 2))
    torch.testing.assert_close(totals - difference, delta, atol=1e-6, rtol=0)
    assert (delta.abs() < 0.02 * difference.abs()).all()


def test_subembedding_lig_is_complete_over_the_three_embeddings(model, tensors):
    attributions, delta = subembedding_lig(model, tensors, N_STEPS, None)
    assert set(attributions) == {"word", "token_type", "position"}
    forward = forward_from_ids(model)
    with torch.no_grad():
        difference = (
            forward(tensors["input_ids"], tensors["token_type_ids"], tensors["position_ids"], tensors["attention_mask"])
            - forward(
                tensors["ref_input_ids"],
                tensors["ref_token_type_ids"],
                tensors["ref_position_ids"],
                tensors["attention_mask"],
            )
        )[0]
    totals = sum(attribution.sum(dim=(1, 2)) for attribution in attributions.values())
    torch.testing.assert_close(totals - difference, delta, atol=1e-6, rtol=0)
    assert (delta.abs() < 0.02 * difference.abs()).all()


def test_conductance_of_every_layer_is_complete(model, tensors):
    layers = list(range(1, model.config.num_hidden_layers + 1))
    attributions, deltas = layer_conductance(model, tensors, layers, N_STEPS, None)
    assert list(attributions) == layers and list(deltas) == layers, "keyed by the 1-based layer numbers"
    inputs, baselines = conductance_embeddings(model, tensors)
    forward = forward_from_embeddings(model)
    with torch.no_grad():
        difference = (forward(inputs, tensors["attention_mask"]) - forward(baselines, tensors["attention_mask"]))[0]
    for layer in layers:
        totals = attributions[layer].sum(dim=(1, 2))
        torch.testing.assert_close(totals - difference, deltas[layer], atol=1e-6, rtol=0)
        assert (deltas[layer].abs() < 0.05 * difference.abs()).all(), f"layer {layer}"


@pytest.mark.parametrize("encoded", ["tensors", "corrected_tensors"])
def test_batched_targets_equal_the_tutorials_separate_calls(model, encoded, request):
    """One call for [start, end] gives what the tutorial's two calls (position=0, position=1) give, for the token
    types of either procedure."""
    tensors = request.getfixturevalue(encoded)
    attributions, delta = embedding_lig(model, tensors, N_STEPS, None)

    def squad_pos_forward_func(inputs, token_type_ids=None, position_ids=None, attention_mask=None, position=0):
        output = model(inputs, token_type_ids=token_type_ids, position_ids=position_ids, attention_mask=attention_mask)
        return output[position].max(1).values

    lig = LayerIntegratedGradients(squad_pos_forward_func, model.bert.embeddings)
    for position in (0, 1):
        expected, expected_delta = lig.attribute(
            inputs=tensors["input_ids"],
            baselines=tensors["ref_input_ids"],
            additional_forward_args=(
                tensors["token_type_ids"],
                tensors["position_ids"],
                tensors["attention_mask"],
                position,
            ),
            return_convergence_delta=True,
            n_steps=N_STEPS,
        )
        torch.testing.assert_close(attributions[position], expected[0], rtol=1e-5, atol=1e-7)
        torch.testing.assert_close(delta[position], expected_delta[0], rtol=1e-4, atol=1e-7)


def test_shared_pass_subembedding_lig_equals_captums_separate_calls(model, tensors):
    attributions, delta = subembedding_lig(model, tensors, N_STEPS, None)

    def squad_pos_forward_func(inputs, token_type_ids=None, position_ids=None, attention_mask=None, position=0):
        output = model(inputs, token_type_ids=token_type_ids, position_ids=position_ids, attention_mask=attention_mask)
        return output[position].max(1).values

    embeddings = model.bert.embeddings
    with pytest.warns(UserWarning, match="Multiple layers"):
        lig = LayerIntegratedGradients(
            squad_pos_forward_func,
            [embeddings.word_embeddings, embeddings.token_type_embeddings, embeddings.position_embeddings],
        )
    for position in (0, 1):
        expected, expected_delta = lig.attribute(
            inputs=(tensors["input_ids"], tensors["token_type_ids"], tensors["position_ids"]),
            baselines=(tensors["ref_input_ids"], tensors["ref_token_type_ids"], tensors["ref_position_ids"]),
            additional_forward_args=(tensors["attention_mask"], position),
            return_convergence_delta=True,
            n_steps=N_STEPS,
        )
        for name, expected_attribution in zip(("word", "token_type", "position"), expected, strict=True):
            torch.testing.assert_close(attributions[name][position], expected_attribution[0], rtol=1e-5, atol=1e-7)
        torch.testing.assert_close(delta[position], expected_delta[0], rtol=1e-4, atol=1e-7)


def test_shared_pass_refuses_rows_that_are_not_one_input_per_target():
    repeated = torch.arange(6.0).reshape(1, 6).repeat(4, 1)
    assert torch.equal(first_target_rows(repeated), repeated[:2])
    different = repeated.clone()
    different[3, 0] = -1.0
    with pytest.raises(ValueError, match="repeated once per target"):
        first_target_rows(different)


def test_shared_pass_conductance_equals_captum_layer_conductance(model, tensors):
    layers = list(range(1, model.config.num_hidden_layers + 1))
    attributions, _ = layer_conductance(model, tensors, layers, N_STEPS, None)
    inputs, baselines = conductance_embeddings(model, tensors)

    def squad_pos_forward_func2(input_emb, attention_mask=None, position=0):
        return model(inputs_embeds=input_emb, attention_mask=attention_mask)[position].max(1).values

    for layer in layers:
        conductance = LayerConductance(squad_pos_forward_func2, model.bert.encoder.layer[layer - 1])
        for position in (0, 1):
            expected = conductance.attribute(
                inputs=inputs, baselines=baselines, additional_forward_args=(tensors["attention_mask"], position)
            )
            torch.testing.assert_close(attributions[layer][position], expected[0], rtol=1e-5, atol=1e-7)


def test_layer_grouping_does_not_change_conductance(model, tensors):
    layers = list(range(1, model.config.num_hidden_layers + 1))
    grouped, grouped_deltas = layer_conductance(model, tensors, layers, N_STEPS, None)
    for layer in layers:
        single, single_deltas = layer_conductance(model, tensors, [layer], N_STEPS, None)
        assert torch.equal(single[layer], grouped[layer])
        assert torch.equal(single_deltas[layer], grouped_deltas[layer])


@pytest.mark.parametrize("internal_batch_size", [4, 10, 37])
def test_chunking_the_path_does_not_change_results(model, tensors, internal_batch_size):
    whole, _ = layer_conductance(model, tensors, [1, 3], N_STEPS, None)
    chunked, _ = layer_conductance(model, tensors, [1, 3], N_STEPS, internal_batch_size)
    assert sorted(chunked) == [1, 3]
    for layer in (1, 3):
        torch.testing.assert_close(chunked[layer], whole[layer], rtol=1e-4, atol=1e-6)
    lig_whole, _ = embedding_lig(model, tensors, N_STEPS, None)
    lig_chunked, _ = embedding_lig(model, tensors, N_STEPS, internal_batch_size)
    torch.testing.assert_close(lig_chunked, lig_whole, rtol=1e-4, atol=1e-6)


def test_auto_batch_size_shrinks_with_length_and_respects_the_minimum(model):
    short = auto_internal_batch_size(model.config, 32)
    long = auto_internal_batch_size(model.config, 384)
    assert short >= long >= 4
    assert auto_internal_batch_size(model.config, 384, memory_bytes=1) == 4
    assert auto_internal_batch_size(model.config, 384, memory_bytes=1, min_points=4) == 8


def test_shared_pass_refuses_other_targets(model, tensors):
    inputs, baselines = conductance_embeddings(model, tensors)
    conductance = MultiLayerConductance(forward_from_embeddings(model), [model.bert.encoder.layer[0]])
    with pytest.raises(ValueError, match="needs target"):
        conductance.attribute(
            inputs=per_target(inputs),
            baselines=per_target(baselines),
            additional_forward_args=(per_target(tensors["attention_mask"]),),
            target=[1, 0],
            n_steps=4,
        )


def test_auto_budget_is_fixed_on_the_cpu_and_half_the_free_memory_on_a_gpu(monkeypatch):
    assert activation_memory_budget(torch.device("cpu")) == AUTO_BATCH_MEMORY_BYTES
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device: (40 * 2**30, 80 * 2**30))
    assert activation_memory_budget(torch.device("cuda:0")) == 20 * 2**30
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device: (2**30, 80 * 2**30))
    assert activation_memory_budget(torch.device("cuda:0")) == 2**29


def test_stored_summary_gives_the_tutorials_token_summary(model, tensors):
    """Token sums kept in the file, summarised later, equal the tutorial's sum over hidden / L2 norm over tokens."""
    attributions, _ = layer_conductance(model, tensors, [2], N_STEPS, None)
    conductance = attributions[2]
    explained = 5
    kept = stored_summary(conductance, explained, "summary")
    assert sorted(kept) == ["explained", "token_sums"], "summary storage keeps no full tensor"
    array = conductance.numpy()
    assert kept["token_sums"].dtype == np.float64 and kept["token_sums"].shape == array.shape[:2]
    summed = conductance.double().sum(dim=-1)
    expected = (summed / torch.norm(summed, dim=-1, keepdim=True)).numpy()
    np.testing.assert_allclose(summarize(kept["token_sums"]), expected, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(np.linalg.norm(summarize(kept["token_sums"]), axis=-1), [1.0, 1.0])
    assert kept["explained"].shape == (2, model.config.hidden_size)
    np.testing.assert_array_equal(kept["explained"], array[:, explained, :])
    assert stored_summary(conductance, None, "summary").keys() == {"token_sums"}


def test_full_storage_keeps_the_tensor_unchanged(model, tensors):
    attributions, _ = embedding_lig(model, tensors, N_STEPS, None)
    kept = stored_summary(attributions, None, "full")
    assert sorted(kept) == ["attributions", "token_sums"]
    assert kept["attributions"].dtype == np.float32
    np.testing.assert_array_equal(kept["attributions"], attributions.numpy())
    np.testing.assert_array_equal(stored_summary(attributions.numpy(), 3, "full")["attributions"], attributions.numpy())


def test_table_rows_from_the_explained_vector_equal_the_old_definition(model, tensors):
    """distribution_rows and layer_summary_rows, from the stored (targets, hidden) vector, give what they gave from
    the whole conductance tensor and the explained token's index."""
    attributions, deltas = layer_conductance(model, tensors, [3], N_STEPS, None)
    conductance, explained = attributions[3].numpy().astype(np.float64), 4
    vector = stored_summary(attributions[3], explained, "summary")["explained"]
    distributions = distribution_rows("ex", 3, explained, "tok", vector)
    for row, target in enumerate(("start", "end")):
        values = distributions[distributions["target"] == target].sort_values("dim")
        np.testing.assert_array_equal(values["dim"], np.arange(model.config.hidden_size))
        np.testing.assert_array_equal(values["attribution"], conductance[row, explained])
    assert set(distributions["token_index"]) == {explained} and set(distributions["layer"]) == {3}
    summary = layer_summary_rows("ex", 3, vector, deltas[3].numpy()).set_index("target")
    for row, target in enumerate(("start", "end")):
        assert summary.at[target, "total_attribution"] == pytest.approx(conductance[row, explained].sum(), rel=1e-6)
        assert summary.at[target, "entropy"] == entropy_bits(attribution_pmf(conductance[row, explained]))
        assert summary.at[target, "convergence_delta"] == pytest.approx(float(deltas[3][row]))


def encoder_forward(model, embedding_output, attention_mask, position):
    """The encoder and QA head fed an embedding output directly, written out independently of bertscope.model."""
    # BERT's additive mask: 0 where attended, the most negative float where masked.
    extended = (1.0 - attention_mask[:, None, None, :].float()) * torch.finfo(embedding_output.dtype).min
    hidden = model.bert.encoder(embedding_output, attention_mask=extended)[0]
    start, end = model.qa_outputs(hidden).split(1, dim=-1)
    return (start, end)[position].squeeze(-1).max(1).values


def test_corrected_conductance_equals_captum_on_the_encoder_fed_directly(model, corrected_tensors):
    tensors = corrected_tensors
    layers = list(range(1, model.config.num_hidden_layers + 1))
    attributions, deltas = layer_conductance(model, tensors, layers, N_STEPS, None, procedure="corrected")
    embeddings = model.bert.embeddings
    with torch.no_grad():
        # The embedding LIG's path ends: the reference ids with the input's token types and positions.
        inputs, baselines = (
            embeddings(ids, token_type_ids=tensors["token_type_ids"], position_ids=tensors["position_ids"])
            for ids in (tensors["input_ids"], tensors["ref_input_ids"])
        )
        difference = torch.stack(
            [
                encoder_forward(model, inputs, tensors["attention_mask"], position)
                - encoder_forward(model, baselines, tensors["attention_mask"], position)
                for position in (0, 1)
            ]
        )[:, 0]
    for layer in layers:
        conductance = LayerConductance(partial(encoder_forward, model), model.bert.encoder.layer[layer - 1])
        for position in (0, 1):
            # The embedding LIG's N_STEPS path points: captum's conductance over N_STEPS - 1 differences.
            expected = conductance.attribute(
                inputs=inputs,
                baselines=baselines,
                additional_forward_args=(tensors["attention_mask"], position),
                n_steps=N_STEPS - 1,
            )
            torch.testing.assert_close(attributions[layer][position], expected[0], rtol=1e-5, atol=1e-7)
        # Completeness: each layer's conductance sums to the output difference, up to the delta it reports.
        torch.testing.assert_close(attributions[layer].sum(dim=(1, 2)) - difference, deltas[layer], atol=1e-5, rtol=0)
        assert (deltas[layer].abs() < 0.05 * difference.abs()).all(), f"layer {layer}"


@pytest.mark.parametrize("internal_batch_size", [None, 8, 14])
def test_one_pass_gives_the_corrected_embedding_lig_and_conductance(model, corrected_tensors, internal_batch_size):
    """The shared pass equals the two separate ones, with the path in one chunk or in several that share points."""
    tensors = corrected_tensors
    layers = list(range(1, model.config.num_hidden_layers + 1))
    (lig, lig_delta), (conductance, deltas) = path_attribution(model, tensors, layers, N_STEPS, internal_batch_size)
    expected_lig, expected_delta = embedding_lig(model, tensors, N_STEPS, None)
    torch.testing.assert_close(lig, expected_lig, rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(lig_delta, expected_delta, rtol=1e-4, atol=1e-6)
    difference = output_difference(model, tensors)
    torch.testing.assert_close(lig.sum(dim=(1, 2)) - difference, lig_delta, atol=1e-5, rtol=0)
    expected_conductance, expected_deltas = layer_conductance(model, tensors, layers, N_STEPS, None, "corrected")
    for layer in layers:
        torch.testing.assert_close(conductance[layer], expected_conductance[layer], rtol=1e-5, atol=1e-7)
        torch.testing.assert_close(deltas[layer], expected_deltas[layer], rtol=1e-4, atol=1e-6)


def test_a_point_counted_twice_would_show_in_the_shared_lig(model, tensors):
    """Guards the chunk bookkeeping: a wrong step weight or a doubled boundary point moves the LIG off captum's."""
    (lig, _), _ = path_attribution(model, tensors, [1], 4, internal_batch_size=4)
    expected, _ = embedding_lig(model, tensors, 4, None)
    torch.testing.assert_close(lig, expected, rtol=1e-5, atol=1e-7)
    (fewer_points, _), _ = path_attribution(model, tensors, [1], 3, internal_batch_size=4)
    assert not torch.allclose(fewer_points, expected, rtol=1e-3)


def test_the_procedures_differ_only_where_they_should(model, tensors):
    tutorial, _ = layer_conductance(model, tensors, [1], N_STEPS, None, procedure="tutorial")
    corrected, _ = layer_conductance(model, tensors, [1], N_STEPS, None, procedure="corrected")
    assert not torch.allclose(tutorial[1], corrected[1])
    refusal = re.escape("field 'procedure': 'exact' is not allowed. Fix: use one of tutorial, corrected")
    with pytest.raises(BertscopeError, match=refusal):
        layer_conductance(model, tensors, [1], N_STEPS, None, procedure="exact")
