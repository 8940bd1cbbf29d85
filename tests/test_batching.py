"""Examples that share passes (length buckets, padding) give every example its one-by-one results, to 1e-5 in fp32:
Part 1's attributions under both procedures, the corrected shared pass, and Part 2's attention pass and norms; and
padding never changes a prediction. The model has non-zero biases and LayerNorm weights, so that a padded slot
or reference value leaking into a real position would show."""

from __future__ import annotations

import json
import logging
import re

import numpy as np
import pytest
import torch

from bertscope.attribution.batching import MAX_PADDING_SHARE, group_limit, length_groups, pad_group, split_rows
from bertscope.attribution.job import ExampleGroup, conductance_tries, lig_tries
from bertscope.attribution.part1 import (
    auto_internal_batch_size,
    bytes_per_point,
    embedding_lig,
    layer_conductance,
    path_attribution,
    subembedding_lig,
)
from bertscope.attribution.part2 import attention_group_results, attention_results
from bertscope.attribution.progress import Progress, duration
from bertscope.data.qa_inputs import encode_example
from bertscope.evaluation.convergence import (
    StepsPlan,
    group_until_converged,
    relative_delta,
    steps_plan,
    until_converged,
)
from bertscope.models.forward import run_on_input
from bertscope.models.loading import load_model, load_tokenizer
from bertscope.models.precision import compute_precision

N_STEPS = 8
RTOL, ATOL = 1e-5, 1e-6
CONTEXTS = [
    "It is important to us.",
    "It is important to us to include, empower and support humans of all kinds.",
    "It is important to us to include humans.",
    "It is important to us to include, empower and support humans of all kinds. It is important to us.",
]


@pytest.fixture(autouse=True)
def one_thread():
    """One torch thread: these tiny passes are overhead-bound, and a second thread only waits on the shared cores."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def biased(model):
    """The model with every weight, bias and LayerNorm parameter moved off its initial value."""
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.2 * torch.randn(parameter.shape, generator=generator))
    return model


@pytest.fixture(scope="module")
def model(tiny_model_dir):
    return biased(load_model(tiny_model_dir, torch.device("cpu")))


@pytest.fixture(scope="module")
def eager_model(tiny_model_dir):
    return biased(load_model(tiny_model_dir, torch.device("cpu"), attention_weights=True))


def encoded(tiny_model_dir, procedure: str) -> list[dict]:
    tokenizer = load_tokenizer(tiny_model_dir)
    return [
        encode_example(
            tokenizer,
            f"ex{number}",
            {"question": "What is important to us?", "context": context, "answer": "It"},
            64,
            procedure=procedure,
        ).tensors
        for number, context in enumerate(CONTEXTS)
    ]


@pytest.fixture(scope="module")
def examples(tiny_model_dir) -> dict[str, list[dict]]:
    return {procedure: encoded(tiny_model_dir, procedure) for procedure in ("tutorial", "corrected")}


def lengths_of(examples: list[dict]) -> list[int]:
    return [tensors["input_ids"].shape[1] for tensors in examples]


def assert_close(actual, expected):
    assert actual.shape == expected.shape
    torch.testing.assert_close(actual.float(), expected.float(), rtol=RTOL, atol=ATOL)


def grouped(examples, group_size):
    """(group tensors, lengths, indices) of consecutive groups of ``group_size`` examples."""
    for start in range(0, len(examples), group_size):
        members = examples[start : start + group_size]
        yield pad_group(members, 0), lengths_of(members), range(start, start + len(members))


def test_examples_have_different_lengths(examples):
    assert len(set(lengths_of(examples["tutorial"]))) == len(CONTEXTS)


@pytest.mark.parametrize("group_size", [2, 4])
@pytest.mark.parametrize("procedure", ["tutorial", "corrected"])
def test_grouped_lig_equals_one_by_one(model, examples, group_size, procedure):
    tensors = examples[procedure]
    for group, lengths, indices in grouped(tensors, group_size):
        attributions, deltas = embedding_lig(model, group, N_STEPS, 12)
        sub_attributions, sub_deltas = subembedding_lig(model, group, N_STEPS, "auto")
        split_sub = {name: split_rows(rows, lengths) for name, rows in sub_attributions.items()}
        for position, index in enumerate(indices):
            alone, alone_delta = embedding_lig(model, tensors[index], N_STEPS, 12)
            assert_close(split_rows(attributions, lengths)[position], alone)
            assert_close(split_rows(deltas, lengths, ())[position], alone_delta)
            sub_alone, sub_alone_delta = subembedding_lig(model, tensors[index], N_STEPS, "auto")
            assert_close(split_rows(sub_deltas, lengths, ())[position], sub_alone_delta)
            for name, rows in split_sub.items():
                assert_close(rows[position], sub_alone[name])


@pytest.mark.parametrize("group_size", [3, 4])
@pytest.mark.parametrize("procedure", ["tutorial", "corrected"])
def test_grouped_conductance_equals_one_by_one(model, examples, group_size, procedure):
    tensors = examples[procedure]
    layers = [1, 3]
    for group, lengths, indices in grouped(tensors, group_size):
        attributions, deltas = layer_conductance(model, group, layers, N_STEPS, "auto", procedure)
        for position, index in enumerate(indices):
            alone, alone_deltas = layer_conductance(model, tensors[index], layers, N_STEPS, "auto", procedure)
            for layer in layers:
                assert_close(split_rows(attributions[layer], lengths)[position], alone[layer])
                assert_close(split_rows(deltas[layer], lengths, ())[position], alone_deltas[layer])


def test_grouped_shared_pass_equals_one_by_one(model, examples):
    tensors = examples["corrected"]
    group, lengths, _ = next(grouped(tensors, 4))
    (lig, lig_deltas), (conductance, deltas) = path_attribution(model, group, [2], N_STEPS, 16)
    for index in range(len(tensors)):
        (alone, alone_delta), (alone_conductance, alone_deltas) = path_attribution(
            model, tensors[index], [2], N_STEPS, 16
        )
        assert_close(split_rows(lig, lengths)[index], alone)
        assert_close(split_rows(lig_deltas, lengths, ())[index], alone_delta)
        assert_close(split_rows(conductance[2], lengths)[index], alone_conductance[2])
        assert_close(split_rows(deltas[2], lengths, ())[index], alone_deltas[2])


def test_grouped_deltas_are_per_example(model, examples):
    """captum's convergence delta of each example in a group: its own sum minus its own output difference."""
    tensors = examples["tutorial"]
    group, _, _ = next(grouped(tensors, 4))
    attributions, deltas = embedding_lig(model, group, N_STEPS, None)
    sums = attributions.sum(dim=(1, 2))
    alone_deltas = [embedding_lig(model, one, N_STEPS, None)[1] for one in tensors]
    assert deltas.shape == (2 * len(tensors),)
    assert_close(deltas, torch.cat(alone_deltas))
    assert not torch.allclose(sums[0::2], sums[0])  # examples differ: no row was copied from another


@pytest.mark.parametrize("group_size", [2, 4])
def test_grouped_attention_equals_one_by_one(eager_model, examples, group_size):
    tensors = examples["tutorial"]
    layers, chosen = [1, 2, 3], 3
    for group, lengths, indices in grouped(tensors, group_size):
        kept = attention_group_results(eager_model, group, lengths, layers, chosen, N_STEPS, [True] * len(lengths))
        for position, index in enumerate(indices):
            alone = attention_results(eager_model, tensors[index], layers, chosen, N_STEPS, True)
            assert sorted(kept[position]) == sorted(alone)
            assert "layer_03.attention" in alone
            for name, value in alone.items():
                assert_close(kept[position][name], value)


def example_group(tensors: list[dict]) -> ExampleGroup:
    names = [f"ex{index}" for index in range(len(tensors))]
    return ExampleGroup(names, [{} for _ in tensors], lengths_of(tensors), pad_group(tensors, 0))


def test_auto_steps_in_a_group_give_each_example_its_own_steps_as_one_by_one(model, examples, caplog):
    """At tolerance 0.13 from 2 steps, capped at 16, the biased tiny model's four examples need 4, 16, 2 and (at the
    cap, unconverged) 16 steps; the group re-runs only the unconverged ones, and each ends as its one-by-one loop."""
    tensors, plan, calls = examples["tutorial"], StepsPlan(2, 16, 0.13), []

    def lig(group_tensors, steps):
        calls.append((group_tensors["input_ids"].shape, steps))
        return embedding_lig(model, group_tensors, steps, "auto")

    with caplog.at_level(logging.INFO, logger="bertscope"):
        outcomes = group_until_converged(lig_tries(lig), example_group(tensors), plan, "embeddings")
    assert [(outcome.steps, outcome.converged) for outcome in outcomes] == [
        (4, True),
        (16, True),
        (2, True),
        (16, False),
    ]
    lengths = lengths_of(tensors)
    # 2 steps: all four; 4: all but ex2, padded to ex3's length; 8 and 16: ex1 and ex3.
    assert [(shape[0], steps) for shape, steps in calls] == [(4, 2), (3, 4), (2, 8), (2, 16)]
    assert calls[1][0][1] == max(lengths[0], lengths[1], lengths[3])
    for tensor, outcome in zip(tensors, outcomes, strict=True):
        alone = until_converged(lambda steps, t=tensor: embedding_lig(model, t, steps, "auto"), plan)
        assert (alone.steps, alone.converged) == (outcome.steps, outcome.converged)
        assert [steps for steps, _ in alone.history] == [steps for steps, _ in outcome.history]
        assert_close(outcome.result[0], alone.result[0])
        assert_close(outcome.result[1], alone.result[1])
    assert "ex2 embeddings: converged at n_steps 2" in caplog.text
    assert "ex3 embeddings: not converged at the cap, n_steps 16" in caplog.text and "raise n_steps_max" in caplog.text


def test_auto_steps_of_conductance_converge_when_every_layer_of_the_job_does(model, examples):
    tensors, layers = examples["corrected"][:2], [1, 3]
    attribute = conductance_tries(lambda t, steps: layer_conductance(model, t, layers, steps, "auto", "corrected"))
    outcomes = group_until_converged(attribute, example_group(tensors), StepsPlan(3, 12, 0.05), "layers")
    for tensor, outcome in zip(tensors, outcomes, strict=True):
        alone, alone_deltas = layer_conductance(model, tensor, layers, outcome.steps, "auto", "corrected")
        relative = [relative_delta(alone[layer], alone_deltas[layer]) for layer in layers]
        assert outcome.history[-1][1] == pytest.approx(np.concatenate(relative).tolist(), rel=1e-4, abs=1e-6)
        assert outcome.converged == bool((np.concatenate(relative) <= 0.05).all())
        for layer in layers:
            assert_close(outcome.result[0][layer], alone[layer])


def test_an_integer_n_steps_is_one_call_of_the_whole_group_unchanged(model, examples):
    tensors, calls = examples["tutorial"], []

    def lig(group_tensors, steps):
        calls.append(steps)
        return subembedding_lig(model, group_tensors, steps, "auto")

    group = example_group(tensors)
    outcomes = group_until_converged(lig_tries(lig), group, steps_plan(N_STEPS), "sub-embeddings")
    assert calls == [N_STEPS] and all(o.steps == N_STEPS and o.converged is None for o in outcomes)
    expected, expected_deltas = subembedding_lig(model, group.tensors, N_STEPS, "auto")
    for index, outcome in enumerate(outcomes):
        assert torch.equal(outcome.result[1], group.split(expected_deltas, ())[index])
        for name, rows in expected.items():
            assert torch.equal(outcome.result[0][name], group.split(rows)[index])
        assert outcome.record()["tries"] == [[N_STEPS, relative_delta(*outcome.result).tolist()]]


def test_padding_never_changes_a_prediction(model, examples):
    tensors = examples["tutorial"]
    group = pad_group(tensors, 0)
    with torch.no_grad():
        together = run_on_input(model, group)
        for index, (one, length) in enumerate(zip(tensors, lengths_of(tensors), strict=True)):
            alone = run_on_input(model, one)
            for name in ("start_logits", "end_logits"):
                assert_close(getattr(together, name)[index, :length], getattr(alone, name)[0])
                padded = getattr(together, name)[index].masked_fill(group["attention_mask"][index] == 0, -torch.inf)
                assert int(padded.argmax()) == int(getattr(alone, name)[0].argmax())


def test_pad_group_pads_with_the_pad_token_and_a_zero_mask(examples):
    tensors = examples["tutorial"][:2]
    group = pad_group(tensors, 7)
    short = lengths_of(tensors)[0]
    assert group["input_ids"].shape == (2, lengths_of(tensors)[1])
    assert group["input_ids"][0, short:].unique().tolist() == [7]
    assert group["ref_input_ids"][0, short:].unique().tolist() == [7]
    assert group["attention_mask"][0, short:].unique().tolist() == [0]
    assert group["position_ids"][0, short:].unique().tolist() == [0]
    assert group["attention_mask"][1].unique().tolist() == [1]


def test_length_groups_bound_padding_and_size():
    lengths = {"a": 100, "b": 30, "c": 32, "d": 31, "e": 33, "f": 98}
    groups = length_groups(lengths, lambda length: 3)
    assert groups == [["b", "d", "c"], ["e"], ["f", "a"]]
    many = length_groups({f"x{index}": 50 + index % 3 for index in range(10)}, lambda length: 4)
    assert [len(group) for group in many] == [4, 4, 2]
    for group in many:
        longest = max(50 + int(name[1:]) % 3 for name in group)
        assert sum(longest - (50 + int(name[1:]) % 3) for name in group) <= MAX_PADDING_SHARE * longest * len(group)


def test_group_limit_bounds_memory_by_the_budget(model):
    per_point = bytes_per_point(model.config, 40)
    assert group_limit(per_point, 10 * per_point, "auto", 4) == 2
    assert group_limit(per_point, per_point, "auto", 4) == 1  # one example always runs
    assert group_limit(per_point, 0, 48, 4) == 6  # an integer counts rows: 48 // (2 targets × 4 points)
    rows = auto_internal_batch_size(model.config, 40, 10 * per_point, 4, examples=2)
    assert rows == 2 * 2 * 5  # 2 examples × 2 targets × 5 points: the group's points within the budget
    # Part 2's attention conductance of 3 layers: 8 floats per head (2) and token pair (40²) and layer, 4 bytes each.
    assert bytes_per_point(model.config, 40, attention_layers=3) - per_point == 4 * 8 * 2 * 40**2 * 3


def test_bf16_runs_on_the_cpu_with_fp32_results(model, examples):
    tensors = examples["tutorial"][1]
    exact, exact_delta = embedding_lig(model, tensors, N_STEPS, None)
    with compute_precision("bf16", "cpu"):
        attributions, delta = embedding_lig(model, tensors, N_STEPS, None)
    assert attributions.dtype == torch.float32 and delta.dtype == torch.float32
    assert not torch.equal(attributions, exact)  # bf16 did run
    torch.testing.assert_close(attributions, exact, rtol=0.1, atol=0.05)
    torch.testing.assert_close(delta, exact_delta, rtol=0.1, atol=0.05)


def test_progress_lines_name_the_job_and_give_an_eta(caplog):
    times = iter([0.0, 10.0, 40.0])
    progress = Progress("embedding_lig b0001", [1.0, 3.0], clock=lambda: next(times))
    with caplog.at_level(logging.INFO, logger="bertscope"):
        progress.starting(0, "2 examples of 30 tokens", 0, 5)
        progress.starting(1, "3 examples of 40 tokens", 2, 5)
        progress.finished()
    assert caplog.messages == [
        "embedding_lig b0001: group 1 of 2 (2 examples of 30 tokens), 0 of 5 examples done, ETA unknown",
        "embedding_lig b0001: group 2 of 2 (3 examples of 40 tokens), 2 of 5 examples done, ETA 30 s",
        "embedding_lig b0001: done in 40 s",
    ]
    assert duration(425) == "7 min 05 s" and duration(7380) == "2 h 03 min"


@pytest.mark.slow
def test_bf16_pipeline_records_its_precision(tmp_path, tiny_model_dir):
    """precision: bf16 runs end to end on the CPU (Part 2 included) and says so in every table and the provenance."""
    from conftest import TUTORIAL_EXAMPLE, read_table, snakemake, table_metadata, write_config

    from bertscope.pipeline.tensor_io import read_records

    short = {"question": "Who is important to us?", "context": "It is important to us to help them.", "answer": "us"}
    write_config(
        tmp_path,
        model=str(tiny_model_dir),
        examples={"tutorial": TUTORIAL_EXAMPLE, "short": short},
        n_steps=4,
        threads_per_job=1,
        precision="bf16",
        layers_per_job="all",
    )
    # every step that computes (the figures only draw the tables): the tables and the provenance
    completed = snakemake(tmp_path, "--cores", "2", "results/tables/datasets.json", "results/provenance.json")
    assert completed.returncode == 0, completed.stderr[-5000:]
    for table in ("predictions", "attention_heads"):
        assert table_metadata(tmp_path, table)[b"bertscope.precision"] == b"bf16", table
    assert json.loads((tmp_path / "results" / "provenance.json").read_text())["precision"] == "bf16"
    attributions = sorted((tmp_path / "results" / "attributions").rglob("*.safetensors"))
    assert attributions and all(
        record["precision"] == "bf16" for path in attributions for record in read_records(path).values()
    )
    assert set(read_table(tmp_path, "predictions")["example"]) == {"tutorial", "short"}
    logs = "".join(path.read_text() for path in (tmp_path / "results" / "logs" / "embedding_lig").rglob("*.log"))
    assert re.search(r"embedding_lig \S+: group 1 of \d \(\d examples? of \d+ tokens\), 0 of 2 examples done", logs)
