"""n_steps: auto (bertscope.evaluation.convergence) and the cascading randomisation (bertscope.evaluation.sanity)."""

from __future__ import annotations

import itertools
import logging

import numpy as np
import pandas as pd
import pytest
import torch

from bertscope import BertscopeError
from bertscope.attribution.part1 import embedding_lig
from bertscope.evaluation.convergence import (
    Converged,
    StepsPlan,
    auto_settings,
    ladder,
    ladder_rows,
    relative_delta,
    steps_plan,
    until_converged,
)
from bertscope.evaluation.sanity import cascade, cascade_stages
from bertscope.figures.convergence import convergence_figure
from bertscope.tables.io import conform
from bertscope.tables.part1 import delta_rows, try_rows


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
    plan = StepsPlan(2, 64, float(loose) * 1.0001)
    with caplog.at_level(logging.INFO, logger="bertscope"):
        result = until_converged(attribute, plan, what="tutorial embeddings")
    assert result.converged and result.steps <= 4 and calls == [step for step, _ in result.history]
    assert calls[0] == 2 and all(b == 2 * a for a, b in itertools.pairwise(calls))
    assert "converged at n_steps" in caplog.text
    expected, _ = embedding_lig(model, tensors, result.steps, internal_batch_size=64)
    torch.testing.assert_close(result.result[0], expected)


def test_auto_steps_stop_at_the_cap_and_say_so(model, tensors, caplog):
    with caplog.at_level(logging.INFO, logger="bertscope"):
        result = until_converged(lambda s: embedding_lig(model, tensors, s, 64), StepsPlan(3, 10, 0.0), what="x")
    assert not result.converged
    assert [steps for steps, _ in result.history] == [3, 6, 10]
    assert "not converged at the cap, n_steps 10" in caplog.text and "n_steps_max" in caplog.text


def test_steps_plan_of_an_integer_is_one_unjudged_try_and_auto_doubles_to_the_cap():
    assert steps_plan(50) == StepsPlan(50, 50, None)
    settings = {"n_steps_min": 50, "n_steps_max": 400, "n_steps_tolerance": 0.01}
    assert steps_plan("auto", settings) == StepsPlan(50, 400, 0.01)
    assert ladder(50, 400) == [50, 100, 200, 400] and ladder(3, 10) == [3, 6, 10] and ladder(8, 8) == [8]
    with pytest.raises(BertscopeError, match=r"n_steps_max.*Fix: set n_steps_max to at least n_steps_min"):
        steps_plan("auto", {**settings, "n_steps_max": 25})
    assert auto_settings({"n_steps": 50, **settings}) == {}
    assert auto_settings({"n_steps": "auto", **settings, "other": 1}) == settings


def test_the_tables_say_how_many_steps_each_try_took_and_whether_it_converged():
    record = Converged(None, 8, False, [(4, [0.5, 0.2, 0.3, 0.1]), (8, [0.4, 0.1, 0.2, 0.05])]).record(slice(2, None))
    deltas, tries = delta_rows("q1", "layer", 2, np.array([0.2, -0.1]), record), try_rows("q1", "layer", 2, record)
    assert deltas["n_steps"].tolist() == [8, 8] and deltas["converged"].tolist() == [False, False]
    assert deltas["relative_delta"].tolist() == [0.2, 0.05]
    assert tries[["try", "n_steps", "target", "relative_delta"]].values.tolist() == [
        [1, 4, "start", 0.3],
        [1, 4, "end", 0.1],
        [2, 8, "start", 0.2],
        [2, 8, "end", 0.05],
    ]
    unjudged = Converged(None, 50, None, [(50, [0.01, 0.02])]).record()
    deltas = delta_rows("q1", "embeddings", None, np.array([0.1, 0.2]), unjudged)
    tries = try_rows("q1", "embeddings", None, unjudged)
    assert deltas["converged"].isna().all() and len(tries) == 2 and set(tries["n_steps"]) == {50}
    assert len(conform(deltas, "convergence_deltas")) == 2 and len(conform(tries, "convergence_tries")) == 2


def test_the_convergence_figure_draws_every_example_and_the_tolerance(model, tensors):
    import matplotlib.pyplot as plt

    rows = pd.DataFrame(ladder_rows(lambda steps: embedding_lig(model, tensors, steps, 64), ladder(2, 8)))
    assert rows["n_steps"].tolist() == [2, 2, 4, 4, 8, 8] and (rows["relative_delta"] > 0).all()
    rows = pd.concat([rows.assign(example="a"), rows.assign(example="b", relative_delta=0.0)])
    figure = convergence_figure(rows, 0.01)
    lines = figure.axes[0].get_lines()
    assert len(lines) == 5  # 2 examples × 2 targets and the tolerance
    assert lines[-1].get_ydata()[0] == 0.01 and min(lines[1].get_ydata()) > 0  # a delta of 0 drawn at the floor
    plt.close(figure)


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
