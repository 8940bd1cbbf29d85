"""Part 2 numerics on a tiny random BERT: equal to the faithful port of the notebook, attention weights equal to an
independent computation, the layer outputs' conductance complete, and the norms' shortcut exact."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import shared_run
from tutorial_part2_procedure import run_part2

from bertscope import BertscopeError
from bertscope.attribution.part2 import (
    attention_and_values,
    attention_conductance,
    attention_entropy_bits,
    attention_norms,
    attention_results,
    output_relative_deltas,
    transformed_values,
    word_embeddings,
)
from bertscope.models.forward import forward_from_word_embeddings, run_on_input
from bertscope.models.loading import load_model
from bertscope.pipeline.plan import chosen_attention_layer

N_STEPS = 20


@pytest.fixture(scope="module")
def model(tiny_model_dir):
    return load_model(tiny_model_dir, torch.device("cpu"), attention_weights=True)


@shared_run
def port(tiny_model_dir):
    from conftest import TUTORIAL_EXAMPLE

    return run_part2(tiny_model_dir, TUTORIAL_EXAMPLE["question"], TUTORIAL_EXAMPLE["context"], n_steps=N_STEPS)


def assert_relative(actual, expected, tolerance=1e-5):
    actual, expected = np.asarray(actual, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    assert actual.shape == expected.shape
    scale = np.abs(expected).max()
    assert scale > 0, "a comparison with an all-zero reference proves nothing"
    assert np.abs(actual - expected).max() <= tolerance * scale


def test_everything_kept_equals_the_notebooks_procedure(model, tensors, port):
    layers = list(range(1, model.config.num_hidden_layers + 1))
    chosen = port["layer"] + 1
    kept = {
        name: value.numpy() for name, value in attention_results(model, tensors, layers, chosen, N_STEPS, True).items()
    }
    key = f"layer_{chosen:02d}"
    assert_relative(kept[f"{key}.attention"], port["attention"])
    assert_relative(kept[f"{key}.alpha_value_norm"], port["alpha_f_x_norm"])
    stacked = {
        name: np.stack([kept[f"layer_{layer:02d}.{name}"] for layer in layers])
        for name in (
            "attention_head_norm",
            "value_norm",
            "summed_alpha_value_norm",
            "output_token_sums",
            "conductance_head_norm",
        )
    }
    assert_relative(stacked["attention_head_norm"], port["attention_head_norm"])
    assert_relative(stacked["value_norm"], port["f_x_norm"])
    assert_relative(stacked["summed_alpha_value_norm"], port["summed_alpha_f_x_norm"])
    for row, target in enumerate(("start", "end")):
        assert_relative(kept[f"{key}.conductance"][row], port[f"attn_conductance_{target}"])
        assert_relative(stacked["conductance_head_norm"][:, row], port[f"attn_conductance_head_norm_{target}"])
        sums = stacked["output_token_sums"][:, row]
        assert_relative(sums / np.linalg.norm(sums, axis=-1, keepdims=True), port[f"layer_attrs_{target}"])


def test_matrices_are_kept_only_when_asked_and_per_head_only_for_the_chosen_layer(model, tensors):
    small = attention_results(model, tensors, [1, 2], 2, N_STEPS, False)
    per_layer = {"head_entropy", "value_norm_mean", "head_conductance_norm", "output_delta"}
    assert {name.split(".")[-1] for name in small} == {*per_layer, "output_difference"}
    full = attention_results(model, tensors, [1, 2], 2, N_STEPS, True)
    assert "layer_02.attention" in full and "layer_01.attention" not in full
    assert "layer_01.summed_alpha_value_norm" in full


def test_part2_output_deltas_are_each_layer_outputs_conductance_sum_minus_the_output_difference(model, tensors):
    """What ``n_steps: auto`` judges Part 2 on: the layer outputs' conductance is complete (every path passes each
    layer's output), so its sum minus F(input) − F(reference) on Part 2's path is the convergence delta."""
    kept = attention_results(model, tensors, [1, 2], 2, N_STEPS, True)
    difference = kept["output_difference"].numpy().astype(np.float64)
    assert np.abs(difference).min() > 0
    relative = []
    for layer in (1, 2):
        total = kept[f"layer_{layer:02d}.output_token_sums"].numpy().astype(np.float64).sum(axis=-1)
        delta = kept[f"layer_{layer:02d}.output_delta"].numpy()
        np.testing.assert_allclose(delta, total - difference, rtol=1e-4, atol=1e-6)
        relative.extend(np.abs(delta) / np.abs(difference))
    np.testing.assert_allclose(output_relative_deltas(kept, [1, 2]), relative, rtol=1e-6)


def example_attention_and_values(model, tensors, layers):
    """:func:`attention_and_values` of the one example of ``tensors``: its (B = 1) batch axis dropped."""
    return tuple(
        {layer: rows[0] for layer, rows in found.items()} for found in attention_and_values(model, tensors, layers)
    )


def test_attention_weights_equal_an_independent_softmax_of_queries_and_keys(model, tensors):
    layers = list(range(1, model.config.num_hidden_layers + 1))
    attention, values = example_attention_and_values(model, tensors, layers)
    with torch.no_grad():
        hidden = run_on_input(model, tensors, output_hidden_states=True).hidden_states
    heads = model.config.num_attention_heads
    size = model.config.hidden_size // heads
    for layer in layers:
        self_attention = model.bert.encoder.layer[layer - 1].attention.self
        x = hidden[layer - 1][0]
        query = self_attention.query(x).reshape(-1, heads, size).transpose(0, 1)
        key = self_attention.key(x).reshape(-1, heads, size).transpose(0, 1)
        expected = torch.softmax(query @ key.transpose(1, 2) / size**0.5, dim=-1)
        torch.testing.assert_close(attention[layer], expected, rtol=1e-5, atol=1e-7)
        torch.testing.assert_close(values[layer], self_attention.value(x), rtol=1e-5, atol=1e-7)
        torch.testing.assert_close(attention[layer].sum(dim=-1), torch.ones(heads, x.shape[0]))


def test_layer_output_conductance_with_the_word_embeddings_as_input_is_complete(model, tensors):
    layers = list(range(1, model.config.num_hidden_layers + 1))
    outputs, probabilities = attention_conductance(model, tensors, layers, 50, None)
    inputs, reference = word_embeddings(model, tensors)
    forward = forward_from_word_embeddings(model)
    arguments = (tensors["token_type_ids"], tensors["position_ids"], tensors["attention_mask"])
    with torch.no_grad():
        difference = (forward(inputs, *arguments) - forward(reference, *arguments))[0]
    assert difference.abs().min() > 1e-4, "the test needs outputs that change along the path"
    for layer in layers:
        torch.testing.assert_close(outputs[layer].sum(dim=(1, 2)), difference, rtol=0.05, atol=1e-5)
        heads, length = model.config.num_attention_heads, tensors["input_ids"].shape[1]
        assert probabilities[layer].shape == (2, heads, length, length)
        assert probabilities[layer].abs().max() > 0


def test_the_norm_of_the_summed_heads_equals_the_materialised_sum(model, tensors):
    attention, values = example_attention_and_values(model, tensors, [1])
    transformed = transformed_values(model, 1, values[1])
    direct = torch.einsum("hks,hso->kso", attention[1], transformed).norm(dim=-1)
    norms = attention_norms(model, 1, attention[1], values[1])
    torch.testing.assert_close(norms["summed_alpha_value_norm"], direct, rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(
        norms["alpha_value_norm"], (attention[1][..., None] * transformed[:, None]).norm(dim=-1), rtol=1e-5, atol=1e-7
    )


def test_entropy_of_uniform_and_one_hot_attention():
    length = 8
    uniform = torch.full((1, length, length), 1 / length)
    one_hot = torch.eye(length)[None]
    torch.testing.assert_close(attention_entropy_bits(uniform), torch.tensor([3.0]))
    torch.testing.assert_close(attention_entropy_bits(one_hot), torch.tensor([0.0]))


def test_the_chosen_layer_is_the_last_by_default_and_must_exist():
    assert chosen_attention_layer("last", 12) == 12
    assert chosen_attention_layer(3, 12) == 3
    with pytest.raises(BertscopeError, match=r"attention_layer.*13.*12 encoder layers.*Fix"):
        chosen_attention_layer(13, 12)


def test_grouping_layers_changes_nothing_but_which_job_holds_them(model, tensors):
    grouped = attention_results(model, tensors, [1, 2, 3], 3, N_STEPS, True)
    alone = {}
    for layer in (1, 2, 3):
        alone |= attention_results(model, tensors, [layer], 3 if layer == 3 else None, N_STEPS, True)
    assert grouped.keys() == alone.keys()
    for name, value in grouped.items():
        torch.testing.assert_close(alone[name], value, rtol=1e-6, atol=1e-9, msg=name)


def test_the_head_summary_averages_every_part_and_counts_the_examples(tmp_path):
    from bertscope.figures.attention import mean_conductance_by_head

    def part(name, examples, start, end):
        rows = [
            {"example": example, "layer": layer, "head": head, "attention_entropy": 1.0, "value_norm_mean": 1.0}
            | {"conductance_norm_start": start * layer, "conductance_norm_end": end * head}
            for example in examples
            for layer in (1, 2)
            for head in (1, 2, 3)
        ]
        path = tmp_path / f"{name}.parquet"
        pd.DataFrame(rows).to_parquet(path)
        return path

    means, examples = mean_conductance_by_head([part("a", ["q1", "q2"], 1.0, 2.0), part("b", ["q3"], 4.0, 5.0)])
    assert examples == 3
    assert means.loc[(2, 3), "conductance_norm_start"] == pytest.approx((1.0 * 2 * 2 + 4.0 * 2) / 3)
    assert means.loc[(1, 3), "conductance_norm_end"] == pytest.approx((2.0 * 3 * 2 + 5.0 * 3) / 3)
    assert list(means.index) == [(layer, head) for layer in (1, 2) for head in (1, 2, 3)]
