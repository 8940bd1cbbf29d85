"""Planning the DAG without torch: batches of examples, layer groups, and which examples get figures."""

from __future__ import annotations

import statistics

import pytest

from bertscope import BertscopeError
from bertscope.pipeline.paths import CONDUCTANCE, EMBEDDINGS, FIGURES, INPUTS, TABLE_PART
from bertscope.pipeline.plan import (
    _closes_batch,
    batch_size_rule,
    check_window_units,
    example_batches,
    figure_batches,
    figure_examples,
    layer_groups,
    shares_one_pass,
)

IDS = ["q1", "q2", "q3", "q4", "q5"]


def test_examples_form_consecutive_batches_named_after_their_examples():
    # The ids' hashes modulo 2: q1 0, q2 0, q3 1, q4 0, q5 0; modulo 3: q1 2, q2 1, q3 2, q4 0, q5 0.
    # examples_per_job 3: at least ceil(3/2) = 2 members, then an id hashing to 0 mod 3 - 2 + 1 = 2 ends the batch:
    # q1 is too early (1 member), q2 ends q1..q2, q3 is too early and not 0, q4 ends q3..q4, q5 is left at the end.
    assert example_batches(IDS, 3) == {"q1..q2": ["q1", "q2"], "q3..q4": ["q3", "q4"], "q5": ["q5"]}
    # 4: at least 2 members, then 0 mod 3: q2 (1) and q3 (2) do not end it, q4 (0) ends q1..q4; q5 alone is too early.
    assert example_batches(IDS, 4) == {"q1..q4": ["q1", "q2", "q3", "q4"], "q5": ["q5"]}
    # 2: at least 1 member, then 0 mod 2: q1 and q2 end their own batches, q3 (1) does not, q4 ends q3..q4.
    assert example_batches(IDS, 2) == {"q1": ["q1"], "q2": ["q2"], "q3..q4": ["q3", "q4"], "q5": ["q5"]}
    assert example_batches(IDS, 1) == {example: [example] for example in IDS}


def test_batches_hold_examples_per_job_on_average_by_construction():
    for examples_per_job in range(1, 200):
        minimum, modulus, cap = batch_size_rule(examples_per_job)
        assert minimum - 1 + modulus == examples_per_job, "m - 1 members, then a geometric number of mean q"
        assert 1 <= minimum <= examples_per_job < cap == 3 * examples_per_job
    assert batch_size_rule(1) == (1, 1, 3), "every id ends its batch: one example a batch"
    assert batch_size_rule(64) == (32, 33, 192)
    ids = [f"q{number}" for number in range(20000)]
    sizes = [len(members) for members in example_batches(ids, 16).values()]
    assert 15.25 < statistics.fmean(sizes[:-1]) < 16.75, "16 a batch on average (about 1250 batches of s.d. 8)"
    assert min(sizes[:-1]) >= 8 and max(sizes) <= 48


def test_a_batch_holds_at_most_three_times_examples_per_job():
    ids = [f"q{number}" for number in range(2000)]
    batches = example_batches(ids, 16)
    assert [example for members in batches.values() for example in members] == ids
    never_closing = [example for example in ids if not _closes_batch(example, 16 - 8 + 1)][:100]
    assert [len(members) for members in example_batches(never_closing, 16).values()] == [48, 48, 4]


def test_an_example_id_that_names_another_examples_window_is_refused_under_explain_windows_all():
    ids = ["q1", "q1#window2", "q2#window1", "q3#window01"]
    check_window_units(ids, "prediction")
    with pytest.raises(BertscopeError, match=r"explain_windows.*'q1#window2' is the id of another example.*Fix"):
        check_window_units(ids, "all")
    check_window_units(["q1", "q2#window1", "q1#window01", "q1#windows"], "all")


def test_an_id_holding_dots_cannot_take_a_batch_name():
    batches = example_batches(["a", "b", "a..b"], 1)
    assert list(batches) == ["a", "b", "a_b~f62b42414c51"]


def test_layer_groups_cover_every_layer_once_by_name():
    assert layer_groups(12, 1) == {f"layers_{layer:02d}-{layer:02d}": [layer] for layer in range(1, 13)}
    assert layer_groups(12, 5) == {
        "layers_01-05": [1, 2, 3, 4, 5],
        "layers_06-10": [6, 7, 8, 9, 10],
        "layers_11-12": [11, 12],
    }
    assert layer_groups(12, "all") == {"layers_all": list(range(1, 13))}
    assert layer_groups(3, "2") == {"layers_01-02": [1, 2], "layers_03-03": [3]}
    for size in (1, 2, 5, 7, 12, 20):
        layers = [layer for group in layer_groups(12, size).values() for layer in group]
        assert layers == list(range(1, 13)), size


def test_only_corrected_with_every_layer_in_one_job_shares_one_pass():
    assert shares_one_pass("corrected", "all")
    assert not shares_one_pass("tutorial", "all")
    assert not shares_one_pass("corrected", 1)


@pytest.mark.parametrize(
    ("selection", "expected"),
    [
        ("all", IDS),
        ("none", []),
        ("inline", ["q2", "q4"]),
        (0, []),
        (3, ["q1", "q2", "q3"]),
        (9, IDS),
        (["q4", "q1"], ["q1", "q4"]),  # run order, not the listed order
        (["q3", "q3"], ["q3"]),
        ([], []),
    ],
)
def test_figure_examples_of_each_selection_kind_in_run_order(selection, expected):
    assert figure_examples(selection, ["q4", "q2"], IDS) == expected


def test_inline_selection_ignores_inline_ids_that_are_not_run():
    assert figure_examples("inline", ["q9", "q5"], IDS) == ["q5"]


def test_unknown_figure_example_is_refused_naming_the_config_field():
    with pytest.raises(BertscopeError, match=r"'figure_examples'.*'q9', 'x'.*Fix:") as error:
        figure_examples(["q1", "q9", "x"], [], IDS)
    assert "'q1'" not in str(error.value)


def test_figure_batches_keep_only_batches_with_chosen_examples():
    batches = {"q1..q2": ["q1", "q2"], "q3..q4": ["q3", "q4"], "q5": ["q5"]}
    assert figure_batches(batches, ["q2", "q5"]) == {"q1..q2": ["q2"], "q5": ["q5"]}
    assert figure_batches(batches, ["q4", "q3", "q1"]) == {"q1..q2": ["q1"], "q3..q4": ["q3", "q4"]}
    assert figure_batches(batches, IDS) == batches
    assert figure_batches(batches, []) == {}
    assert list(figure_batches(batches, ["q5", "q1"])) == ["q1..q2", "q5"], "batches stay in run order"


def test_path_templates_are_per_batch():
    assert INPUTS.format(batch="q1..q2") == "results/inputs/q1..q2.safetensors"
    assert EMBEDDINGS.format(batch="q1") == "results/attributions/q1/embeddings.safetensors"
    assert (
        CONDUCTANCE.format(batch="q1", group="layers_01-05")
        == "results/attributions/q1/conductance_layers_01-05.safetensors"
    )
    assert TABLE_PART.format(table="predictions", batch="q1") == "results/tables/predictions/q1.parquet"
    assert FIGURES.format(batch="q3..q4") == "results/figures/q3..q4"
