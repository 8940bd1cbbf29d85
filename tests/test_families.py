"""Every supported model family: its inputs, the modules the attributions hook, completeness, equality with captum's
own classes called per target as the tutorial calls them, Part 2's attention, the model step, and a run end to end."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import torch
from captum.attr import LayerConductance, LayerIntegratedGradients
from conftest import TUTORIAL_EXAMPLE, dry_run_jobs, read_table, snakemake, table_metadata, write_config
from model_families import FAMILY_TYPES, build_family_model

from bertscope.attribution import part1, part2
from bertscope.data.qa_inputs import encode_example
from bertscope.models.families import (
    embeddings,
    encoder_layers,
    family_of,
    forward_arguments,
    max_tokens,
    self_attention,
    subembeddings,
    value_projection,
)
from bertscope.models.forward import explained_logits, run_on_input
from bertscope.models.loading import load_model, load_tokenizer

# The tutorial example without its token index (bert-base-cased's): every family splits the words differently.
EXAMPLE = {key: value for key, value in TUTORIAL_EXAMPLE.items() if key != "token_to_explain"}
SPECIALS = {
    "bert": ("[CLS]", ["[SEP]"], "[SEP]"),
    "roberta": ("<s>", ["</s>", "</s>"], "</s>"),
    "distilbert": ("[CLS]", ["[SEP]"], "[SEP]"),
    "albert": ("[CLS]", ["[SEP]"], "[SEP]"),
    "electra": ("[CLS]", ["[SEP]"], "[SEP]"),
    "deberta-v2": ("[CLS]", ["[SEP]"], "[SEP]"),
}
"""Before the question, between question and context, after the context: each family's own pair encoding."""
SUBEMBEDDING_NAMES = {
    "bert": ["word", "token_type", "position"],
    "roberta": ["word", "position"],
    "distilbert": ["word", "position"],
    "albert": ["word", "token_type", "position"],
    "electra": ["word", "token_type", "position"],
    "deberta-v2": ["word"],
}
COMPLETE_STEPS = 300
"""Path points at which every attribution's delta is within 3% of the larger target's F(input) − F(reference) on
these models (about
20 s a family: the completeness tests are slow-marked)."""


@pytest.fixture(scope="module", params=FAMILY_TYPES)
def family_dir(request, tmp_path_factory):
    return build_family_model(request.param, tmp_path_factory.mktemp(request.param) / "model")


@pytest.fixture(scope="module")
def loaded(family_dir):
    model = load_model(family_dir, torch.device("cpu"), attention_weights=True)
    tokenizer = load_tokenizer(family_dir)
    return model, tokenizer


def encode(loaded, procedure="tutorial"):
    model, tokenizer = loaded
    return encode_example(
        tokenizer, "tutorial", EXAMPLE, max_tokens(model.config), procedure=procedure, model_config=model.config
    )


@pytest.fixture(scope="module")
def tensors(loaded):
    return encode(loaded).tensors


def output_difference(model, tensors, full_reference: bool = False) -> torch.Tensor:
    """F(input) − F(reference), (2,): the reference ids with the input's token types and positions, or with the
    reference's own (``full_reference``, the sub-embedding LIG's)."""
    reference = {**tensors, "input_ids": tensors["ref_input_ids"]}
    if full_reference:
        reference |= {"token_type_ids": tensors["ref_token_type_ids"], "position_ids": tensors["ref_position_ids"]}
    with torch.no_grad():
        return (explained_logits(run_on_input(model, tensors)) - explained_logits(run_on_input(model, reference)))[0]


def test_inputs_join_question_and_context_with_the_familys_specials(loaded):
    model, tokenizer = loaded
    model_type = model.config.model_type
    encoded = encode(loaded, procedure="corrected")
    tokens, question_length = encoded.tokens, encoded.question_length
    before, between, after = SPECIALS[model_type]
    context_begin = 1 + question_length + len(between)
    assert tokens[0] == before and tokens[-1] == after
    assert tokens[1 + question_length : context_begin] == between
    # the tokenizer's own pair encoding of the two strings, specials and token types
    own = tokenizer(EXAMPLE["question"], EXAMPLE["context"], return_token_type_ids=True)
    ids = encoded.tensors["input_ids"][0].tolist()
    assert ids == own["input_ids"]
    assert encoded.tensors["token_type_ids"][0].tolist() == own["token_type_ids"]
    expected_types = [0] * context_begin + [1] * (len(ids) - context_begin)
    if model_type == "roberta":
        expected_types = [0] * len(ids)
    assert encoded.tensors["token_type_ids"][0].tolist() == expected_types
    # the reference: pad everywhere but the specials
    special = {0, *range(1 + question_length, context_begin), len(ids) - 1}
    reference = encoded.tensors["ref_input_ids"][0].tolist()
    assert reference == [ids[i] if i in special else tokenizer.pad_token_id for i in range(len(ids))]
    assert encoded.tensors["ref_token_type_ids"].eq(0).all()
    # positions from the family's first one (RoBERTa: padding_idx + 1), the reference's all that first one
    first = tokenizer.pad_token_id + 1 if model_type == "roberta" else 0
    assert encoded.tensors["position_ids"][0].tolist() == list(range(first, first + len(ids)))
    assert encoded.tensors["ref_position_ids"].eq(first).all()
    answer = tokenizer.decode(ids[encoded.true_start : encoded.true_end + 1])
    assert answer.replace(" ", "") == EXAMPLE["answer"].replace(" ", "")


def test_the_tutorial_token_type_quirk_is_berts_alone(loaded):
    model, _ = loaded
    tutorial, corrected = (
        encode(loaded, procedure).tensors["token_type_ids"][0] for procedure in ("tutorial", "corrected")
    )
    first_separator = encode(loaded).question_length + 1
    changed = (tutorial != corrected).nonzero().flatten().tolist()
    assert changed == ([first_separator] if model.config.model_type == "bert" else [])
    if model.config.model_type == "bert":
        assert tutorial[first_separator] == 1 and corrected[first_separator] == 0


def test_explicit_positions_are_the_ones_the_model_derives(loaded, tensors):
    """RoBERTa counts positions from padding_idx + 1: the explicit ones change nothing on the input."""
    model, _ = loaded
    types = tensors["token_type_ids"] if family_of(model).takes_token_types else None
    with torch.no_grad():
        derived = model(tensors["input_ids"], token_type_ids=types, attention_mask=tensors["attention_mask"])
        explicit = run_on_input(model, tensors)
    torch.testing.assert_close(explicit.start_logits, derived.start_logits, rtol=0, atol=0)
    torch.testing.assert_close(explicit.end_logits, derived.end_logits, rtol=0, atol=0)


def test_the_sub_embeddings_are_the_ones_the_family_has(loaded):
    model, _ = loaded
    assert list(subembeddings(model)) == SUBEMBEDDING_NAMES[model.config.model_type]


def test_each_layer_module_outputs_that_layers_hidden_state(loaded, tensors):
    """One hook per layer fires once per pass with the layer's own output (ALBERT: the k-th call of its shared
    layer), checked against the model's ``output_hidden_states``."""
    model, _ = loaded
    seen = {}
    modules = encoder_layers(model)
    assert len(modules) == model.config.num_hidden_layers
    hooks = [
        module.register_forward_hook(lambda m, i, output, k=k: seen.setdefault(k, []).append(output))
        for k, module in enumerate(modules, start=1)
    ]
    try:
        with torch.no_grad():
            hidden = run_on_input(model, tensors, output_hidden_states=True).hidden_states
    finally:
        for hook in hooks:
            hook.remove()
    assert {k: len(outputs) for k, outputs in seen.items()} == {k: 1 for k in range(1, len(modules) + 1)}
    for k in seen:
        torch.testing.assert_close(seen[k][0], hidden[k], rtol=0, atol=0)


@pytest.fixture(scope="module")
def complete(loaded, tensors):
    """Every attribution at COMPLETE_STEPS points, with F(input) − F(reference)."""
    model, _ = loaded
    layers = list(range(1, model.config.num_hidden_layers + 1))
    results = {
        "embeddings": part1.embedding_lig(model, tensors, COMPLETE_STEPS)[1],
        "subembeddings": part1.subembedding_lig(model, tensors, COMPLETE_STEPS)[1],
    }
    for procedure in ("tutorial", "corrected"):
        deltas = part1.layer_conductance(model, tensors, layers, COMPLETE_STEPS, procedure=procedure)[1]
        results |= {f"conductance {procedure} {layer}": delta for layer, delta in deltas.items()}
    return results, output_difference(model, tensors), output_difference(model, tensors, full_reference=True)


@pytest.mark.slow
def test_every_attribution_is_complete(complete):
    deltas, difference, full_difference = complete
    assert difference.abs().min() > 1e-3, "the reference must move the outputs for completeness to mean anything"
    for name, delta in deltas.items():
        # against the larger of the two targets' output changes: the scale of what the attributions split up
        scale = (full_difference if name == "subembeddings" else difference).abs().max()
        assert (delta.abs() <= 0.03 * scale).all(), (name, delta, scale)


@pytest.mark.slow
def test_part2_layer_conductance_is_complete(loaded, tensors):
    model, _ = loaded
    outputs, _ = part2.attention_conductance(model, tensors, [1, 2], 2 * COMPLETE_STEPS)  # DeBERTa: slower
    difference = output_difference(model, tensors)
    for layer, conductance in outputs.items():
        error = (conductance.sum(dim=(1, 2)) - difference).abs()
        assert (error <= 0.03 * difference.abs().max()).all(), (layer, error, difference)


def captum_forward(model, target):
    """The tutorial's forward: the max start (target 0) or end (1) logit of the model on ids."""

    def forward(input_ids, token_type_ids, position_ids, attention_mask):
        output = model(
            input_ids, **forward_arguments(model, token_type_ids, position_ids), attention_mask=attention_mask
        )
        return explained_logits(output, attention_mask)[:, target]

    return forward


def test_embedding_lig_equals_captums_per_target(loaded, tensors):
    model, _ = loaded
    ours, our_delta = part1.embedding_lig(model, tensors, 8)
    for target in range(2):
        lig = LayerIntegratedGradients(captum_forward(model, target), embeddings(model))
        attribution, delta = lig.attribute(
            inputs=tensors["input_ids"],
            baselines=tensors["ref_input_ids"],
            additional_forward_args=(tensors["token_type_ids"], tensors["position_ids"], tensors["attention_mask"]),
            n_steps=8,
            return_convergence_delta=True,
        )
        torch.testing.assert_close(ours[target], attribution[0], rtol=1e-4, atol=1e-6)
        torch.testing.assert_close(our_delta[target], delta[0], rtol=1e-3, atol=1e-6)


def test_subembedding_lig_equals_captums_per_target(loaded, tensors):
    """captum's LIG over the family's sub-embeddings together (the tutorial's one call with a list of layers)."""
    model, _ = loaded
    ours, our_delta = part1.subembedding_lig(model, tensors, 8)
    modules = subembeddings(model)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Multiple layers provided")
        ligs = [LayerIntegratedGradients(captum_forward(model, target), list(modules.values())) for target in range(2)]
    for target, lig in enumerate(ligs):
        attributions, delta = lig.attribute(
            inputs=tuple(tensors[key] for key in ("input_ids", "token_type_ids", "position_ids")),
            baselines=tuple(tensors[key] for key in ("ref_input_ids", "ref_token_type_ids", "ref_position_ids")),
            additional_forward_args=(tensors["attention_mask"],),
            n_steps=8,
            return_convergence_delta=True,
        )
        for name, attribution in zip(modules, attributions, strict=True):
            torch.testing.assert_close(ours[name][target], attribution[0], rtol=1e-4, atol=1e-6)
        torch.testing.assert_close(our_delta[target], delta[0], rtol=1e-3, atol=1e-6)


def test_conductance_equals_captums_layer_conductance_per_target(loaded, tensors):
    """As the tutorial calls it: one LayerConductance per layer and target, the embedding output as
    ``inputs_embeds`` (``procedure: tutorial``)."""
    model, _ = loaded
    ours, _ = part1.layer_conductance(model, tensors, [1, 2], 6, procedure="tutorial")
    inputs, reference = part1.conductance_embeddings(model, tensors)

    def forward(inputs_embeds, attention_mask, target):
        return explained_logits(model(inputs_embeds=inputs_embeds, attention_mask=attention_mask), attention_mask)[
            :, target
        ]

    for layer in (1, 2):
        for target in range(2):
            conductance = LayerConductance(forward, encoder_layers(model)[layer - 1])
            theirs = conductance.attribute(
                inputs=inputs,
                baselines=reference,
                additional_forward_args=(tensors["attention_mask"], target),
                n_steps=6,
            )
            torch.testing.assert_close(ours[layer][target], theirs[0], rtol=1e-4, atol=1e-6)


def test_part2_attention_equals_the_models_output_attentions(loaded, tensors):
    model, _ = loaded
    hooked = {}
    hooks = [
        self_attention(model, layer).register_forward_hook(
            lambda m, i, output, layer=layer: hooked.__setitem__(layer, output[1])
        )
        for layer in (1, 2)
    ]
    try:
        with torch.no_grad():
            output = run_on_input(model, tensors, output_attentions=True)
    finally:
        for hook in hooks:
            hook.remove()
    attention, values = part2.attention_and_values(model, tensors, [1, 2])
    kept = part2.attention_results(model, tensors, [1, 2], 2, 4, matrices=True)
    for layer in (1, 2):
        torch.testing.assert_close(hooked[layer], output.attentions[layer - 1], rtol=0, atol=0)
        torch.testing.assert_close(attention[layer], output.attentions[layer - 1], rtol=0, atol=0)  # (B, heads, L, L)
        assert values[layer].shape == (1, tensors["input_ids"].shape[1], value_projection(model, layer).out_features)
    torch.testing.assert_close(kept["layer_02.attention"], output.attentions[1][0], rtol=0, atol=0)
    assert torch.allclose(output.attentions[1][0].sum(dim=-1), torch.ones(()))


ACTIVATION_TOLERANCE = 1e-6
"""Largest difference, relative to the largest value, between a gelu_new model's activation, logits or embedding LIG
and its fused load's (measured: logits equal, LIG 6e-8 on the tiny ALBERT; 3e-7 and 8e-8 at hidden size 256, 4
layers; the activation over [-6, 6]: 4e-8, where the erf GELU differs by 8e-5)."""


def activation_modules(model) -> list:
    """The model's transformers activation modules."""
    return [module for module in model.modules() if type(module).__module__.endswith(".activations")]


def activations(model) -> set[str]:
    """The class names of the model's transformers activation modules."""
    return {type(module).__name__ for module in activation_modules(model)}


def test_fused_activations_swap_albert_gelu_new_for_transformers_fused_one_and_nothing_else(family_dir, tensors):
    """fused_activations: ALBERT's gelu_new (NewGELUActivation) is loaded as gelu_pytorch_tanh (GELUTanh), its logits
    and embedding LIG the checkpoint's own to float rounding, and off, the module is kept; BERT (the tutorial's) and
    the other families as released use gelu: loaded the same, on or off, with the same numbers exactly."""
    on, off = (load_model(family_dir, torch.device("cpu"), fused_activations=fused) for fused in (True, False))
    tolerance = 0.0
    if on.config.model_type == "albert":
        assert activations(on) == {"GELUTanh"} and on.config.hidden_act == "gelu_pytorch_tanh"
        assert activations(off) == {"NewGELUActivation"} and off.config.hidden_act == "gelu_new"
        assert activations(load_model(family_dir, torch.device("cpu"))) == {"GELUTanh"}, "on by default"
        tolerance = ACTIVATION_TOLERANCE
        # the tiny model's pre-activations are small: the formula itself, over [-6, 6]
        x = torch.linspace(-6, 6, 10001)
        fused, own = (activation_modules(model)[0](x) for model in (on, off))
        assert (fused - own).abs().max() <= tolerance * own.abs().max()
    else:
        assert activations(on) == activations(off) == {"GELUActivation"}
    with torch.no_grad():
        outputs = [run_on_input(model, tensors) for model in (on, off)]
    compared = [(outputs[0][name], outputs[1][name]) for name in ("start_logits", "end_logits")]
    compared.append(tuple(part1.embedding_lig(model, tensors, 8)[0] for model in (on, off)))
    for fused, own in compared:
        assert (fused - own).abs().max() <= tolerance * own.abs().max()


@pytest.mark.parametrize("config_class", ["BertConfig", "DistilBertConfig", "AlbertConfig", "DebertaV2Config"])
def test_any_family_whose_config_names_gelu_new_gets_the_fused_one(config_class):
    """The override names the family's own activation field (DistilBERT's ``activation``)."""
    import transformers

    from bertscope.models.families import family_for_type
    from bertscope.models.loading import activation_override

    config = getattr(transformers, config_class)()
    field = family_for_type(config.model_type).activation
    setattr(config, field, "gelu_new")
    assert activation_override(config, True) == {field: "gelu_pytorch_tanh"}
    assert activation_override(config, False) == {}
    setattr(config, field, "gelu")
    assert activation_override(config, True) == {}


def test_the_model_step_accepts_the_family_from_a_local_directory(family_dir, tmp_path):
    from bertscope.models.source import prepare_model

    record = prepare_model(str(family_dir), None, tmp_path)
    assert record["num_hidden_layers"] == 2 and record["source"] == "local"
    assert (
        json.loads((tmp_path / "config.json").read_text())["model_type"]
        == json.loads((family_dir / "config.json").read_text())["model_type"]
    )


PER_EXAMPLE_TARGETS = (
    "results/tables/datasets.json",
    "results/figures/tutorial",
    "results/figures/_faithfulness/tutorial",
    "results/provenance.json",
)
"""What a family's run builds: every model step, every table and every per-example figure (the example's own and its
faithfulness figures)."""
FULL_RUN_FAMILY = "deberta-v2"
"""The family whose run builds everything: the run-level summaries read only the tables, so they run for the family
with the fewest sources (the word embeddings alone), and for BERT (test_pipeline.py)."""


@pytest.mark.slow
@pytest.mark.parametrize("model_type", [family for family in FAMILY_TYPES if family != "bert"])
def test_a_family_runs_end_to_end_into_every_table_and_per_example_figure(model_type, tmp_path):
    from bertscope.tables.schemas import SCHEMAS

    model_dir = build_family_model(model_type, tmp_path / "model")
    workdir = tmp_path / "run"
    # Every layer in one conductance job and one figure format: the family's path through every model step, at the
    # least cost in jobs (per-layer jobs and pdf are the main pipeline run's to test, svg the SQuAD run's).
    write_config(
        workdir,
        model=str(model_dir),
        examples={"tutorial": EXAMPLE},
        n_steps=4,
        threads_per_job=1,
        layers_per_job="all",
        figure_formats=["png"],
    )
    completed = snakemake(workdir, "--cores", "2", *(() if model_type == FULL_RUN_FAMILY else PER_EXAMPLE_TARGETS))
    assert completed.returncode == 0, completed.stderr[-5000:]
    for table, schema in SCHEMAS.items():
        frame = read_table(workdir, table)
        assert list(frame.columns) == list(schema) and len(frame), table
    sources = set(read_table(workdir, "token_attributions")["source"])
    assert sources == {"embeddings", "layer", *SUBEMBEDDING_NAMES[model_type]}
    figures = workdir / "results" / "figures" / "tutorial" / "tutorial"
    for stem in ("conductance_heatmap_start", "attention_heads", "value_norms"):
        assert (figures / f"{stem}.png").stat().st_size > 0, stem
    top5 = (figures / "top5_start.csv").read_text()
    assert ("none: this model has no such embedding" in top5) == (len(SUBEMBEDDING_NAMES[model_type]) < 3)
    assert np.isfinite(read_table(workdir, "convergence_deltas")["delta"]).all()
    if model_type == FULL_RUN_FAMILY:
        summaries = {path.name for path in (workdir / "results" / "figures").glob("_*/*.png")}
        assert {"mean_layer_attribution.png", "sanity_cascade.png", "faithfulness_curves.png"} <= summaries
    if model_type == "albert":
        assert_fused_activations_recorded_and_rerun_by_the_model_steps(workdir)


def assert_fused_activations_recorded_and_rerun_by_the_model_steps(workdir):
    """ALBERT's run loaded the fused activation, said so in its logs, attribution files, tables and provenance; the
    setting off plans every step that runs the model again, not the model step."""
    from bertscope.pipeline.tensor_io import read_records

    results = workdir / "results"
    log = next((results / "logs" / "embedding_lig").iterdir()).read_text()
    assert "activation gelu_new loaded as transformers' fused gelu_pytorch_tanh (fused_activations)" in log
    attributions = list((results / "attributions").rglob("*.safetensors"))
    assert attributions and all(
        record["fused_activations"] is True for path in attributions for record in read_records(path).values()
    )
    for table in ("layer_summary", "attention_heads", "faithfulness_curves"):
        assert table_metadata(workdir, table)[b"bertscope.fused_activations"] == b"True", table
    assert json.loads((results / "provenance.json").read_text())["fused_activations"] is True
    planned = dry_run_jobs(workdir, "--config", "fused_activations=False")
    model_steps = {"inputs", "embedding_lig", "subembedding_lig", "layer_conductance", "attention"}
    model_steps |= {"faithfulness", "sanity_cascade"}
    assert model_steps <= set(planned) and "model" not in planned, planned
