"""The comparisons by outcome: shares of |attribution| per region, group means and deltas, and the demo SQuAD file."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bertscope.data.examples import load_examples_file
from bertscope.data.squad_demo import write_squad_demo
from bertscope.tables.outcomes import other_window_units, outcome_shares, region_shares

# [CLS] q1 q2 [SEP] c1 c2 c3 [SEP]: question 1..2, context 4..6.
TOKENS = ["[CLS]", "q1", "q2", "[SEP]", "c1", "c2", "c3", "[SEP]"]


def rows(example, values, source="embeddings", layer=None, target="start"):
    return pd.DataFrame(
        {
            "example": example,
            "target": target,
            "source": source,
            "layer": pd.array([layer] * len(TOKENS), dtype="Int64"),
            "token_index": range(len(TOKENS)),
            "token": TOKENS,
            "attribution": values,
        }
    )


def spans(**change):
    frame = pd.DataFrame(
        {
            "example": ["right", "null"],
            "has_answer": [True, False],
            "outcome": ["correct", "abstained"],
            "span_start": [5, 0],
            "span_end": [6, 0],
            "true_start": [5, 0],
            "true_end": [5, 0],
        }
    )
    return frame.assign(**change)


def test_region_shares_by_hand():
    attributions = pd.concat(
        [
            rows("right", [1.0, -2.0, 1.0, 0.0, 1.0, -3.0, 2.0, 0.0]),  # |a| sums to 10
            rows("null", [4.0, 1.0, 0.0, 0.0, -1.0, 2.0, 0.0, 2.0], source="layer", layer=2),  # 10 as well
        ],
        ignore_index=True,
    )
    shares = region_shares(attributions, spans()).set_index(["example", "region"])["share"]
    assert shares["right"].to_dict() == pytest.approx(
        {"question": 0.3, "context": 0.6, "predicted span": 0.5, "gold span": 0.3}
    )
    # The null answer, predicted and gold, is [CLS].
    assert shares["null"].to_dict() == pytest.approx(
        {"question": 0.1, "context": 0.3, "predicted span": 0.4, "gold span": 0.4}
    )


def test_group_means_and_deltas():
    attributions = pd.concat(
        [
            rows("right", [0.0, 1.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0]),  # question share 0.5
            rows("null", [0.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0]),  # question share 1.0
        ],
        ignore_index=True,
    )
    table = outcome_shares(region_shares(attributions, spans()), spans())
    question = table[table["region"] == "question"]
    assert question[["has_answer", "outcome", "examples"]].values.tolist() == [
        [True, "correct", 1],
        [False, "abstained", 1],
    ]
    assert question["share"].tolist() == pytest.approx([0.5, 1.0])
    assert question["delta"].tolist() == pytest.approx([-0.25, 0.25])
    assert table["layer"].isna().all() and len(table) == 2 * 4


def test_an_attribution_that_is_zero_everywhere_has_no_share():
    shares = region_shares(rows("right", np.zeros(len(TOKENS))), spans())
    assert shares["share"].isna().all()


def test_other_windows_units_are_told_from_the_examples_own():
    # "long" was explained in its 3 windows (its prediction in window 1); "short" in its one; "odd#window0" is an
    # example of its own (window 0 but no example "odd"), "x#window2" too (its window is 0, not 2).
    predictions = pd.DataFrame(
        {
            "example": ["long", "long#window0", "long#window2", "short", "odd#window0", "x", "x#window2"],
            "window": [1, 0, 2, 0, 0, 0, 0],
        }
    )
    assert other_window_units(predictions) == {"long#window0", "long#window2"}
    assert other_window_units(predictions[predictions["example"] != "long"]) == set(), "no example, no window of it"


def test_the_demo_squad_file_keeps_every_question(tmp_path):
    examples = load_examples_file(write_squad_demo(tmp_path / "demo.json", 30))
    assert len(examples) == 30
    unanswerable = [example for example in examples.values() if "answer" not in example]
    assert len(unanswerable) == 10
    assert all(example["answers"] == [example["answer"]] for example in examples.values() if "answer" in example)
    assert sum(len(example["context"]) > 2000 for example in examples.values()) == 3


def test_outcome_figures_are_drawn_with_a_footer(tmp_path):
    from types import SimpleNamespace

    from bertscope.figures.outcomes import draw_outcome_figures

    values = [1.0, -2.0, 1.0, 0.0, 1.0, -3.0, 2.0, 0.0]
    attributions = pd.concat(
        [
            rows(example, values, source, layer, target)
            for example in ("right", "null")
            for target in ("start", "end")
            for source, layer in [("embeddings", None), ("word", None), ("layer", 1), ("layer", 2)]
        ],
        ignore_index=True,
    )
    table = outcome_shares(region_shares(attributions, spans()), spans())
    outputs = SimpleNamespace(
        shares_by_source=[tmp_path / "by_source.png", tmp_path / "by_source.svg"],
        shares_by_layer=[tmp_path / "by_layer.png"],
    )
    draw_outcome_figures(table, outputs, "model: tiny · n_steps: 4 · procedure: tutorial · examples: 2")
    assert all(path.stat().st_size > 10_000 for path in [*outputs.shares_by_source, *outputs.shares_by_layer])
    assert "examples: 2" in (tmp_path / "by_source.svg").read_text()
