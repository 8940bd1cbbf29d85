"""n_steps: auto (bertscope.evaluation.convergence) and the cascading randomisation (bertscope.evaluation.sanity)."""

from __future__ import annotations

import itertools
import logging

import numpy as np
import pytest
import torch

from bertscope.attribution.part1 import embedding_lig
from bertscope.evaluation.convergence import relative_delta, until_converged
from bertscope.evaluation.sanity import cascade, cascade_stages


@pytest.fixture(scope="module")
def model(tiny_model_dir):
    from bertscope.models.loading import load_model

    return load_model(tiny_model_dir, torch.device("cpu"))


def test_relative_delta_recovers_the_output_difference():
    attributions = np.zeros((2, 3, 2))
    attributions[0, 0, 0], attributions[1, 1, 1] = 1.1, -0.5  # sums 1.1 and -0.5
    delta = np.array([0.1, 0.0])  # differences 1.0 and -0.5
    np.testing.assert_allclose(relative_delta(attributions, delta), [0.1, 0.0])
    parts = {"a": attributions, "b": attributions}  # sums 2.2 and -1.0: differences 2.1 and -1.0
    np.testing.assert_allclose(relative_delta(parts, delta), [0.1 / 2.1, 0.0])


def test_auto_steps_reach_the_tolerance_and_keep_the_last_try(model, tensors, caplog):
    calls = []

    def attribute(steps):
        calls.append(steps)
        return embedding_lig(model, tensors, steps, internal_batch_size=64)

    loose = relative_delta(*embedding_lig(model, tensors, 4, internal_batch_size=64)).max()
    with caplog.at_level(logging.INFO, logger="bertscope"):
        result = until_converged(attribute, 2, 64, tolerance=float(loose) * 1.0001, what="tutorial embeddings")
    assert result.converged and result.steps <= 4 and calls == [step for step, _ in result.history]
    assert calls[0] == 2 and all(b == 2 * a for a, b in itertools.pairwise(calls))
    assert "converged at n_steps" in caplog.text
    expected, _ = embedding_lig(model, tensors, result.steps, internal_batch_size=64)
    torch.testing.assert_close(result.attributions, expected)


def test_auto_steps_stop_at_the_cap_and_say_so(model, tensors, caplog):
    with caplog.at_level(logging.INFO, logger="bertscope"):
        result = until_converged(lambda s: embedding_lig(model, tensors, s, 64), 3, 10, tolerance=0.0, what="x")
    assert not result.converged
    assert [steps for steps, _ in result.history] == [3, 6, 10]
    assert "not converged at the cap, n_steps 10" in caplog.text and "n_steps_max" in caplog.text


def test_cascade_stages_run_from_the_head_down(model):
    names = [name for name, _ in cascade_stages(model)]
    assert names == ["qa_head", "layer_03", "layer_02", "layer_01", "embeddings"]


def test_cascade_decorrelates_and_leaves_the_model_alone(model, tensors):
    before = {name: value.clone() for name, value in model.state_dict().items()}
    rows = cascade(model, tensors, lambda m, t: embedding_lig(m, t, 8, 64), seed=0)
    assert [row["stage"] for row in rows[::2]] == [
        "original",
        "qa_head",
        "layer_03",
        "layer_02",
        "layer_01",
        "embeddings",
    ]
    assert [row["target"] for row in rows[:2]] == ["start", "end"]
    assert rows[0]["spearman"] == pytest.approx(1.0) and rows[1]["spearman_abs"] == pytest.approx(1.0)
    last = [row for row in rows if row["stage"] == "embeddings"]
    assert all(abs(row["spearman"]) < 0.8 for row in last), last
    for name, value in model.state_dict().items():
        torch.testing.assert_close(value, before[name])
