"""Planning the DAG without torch: batches of examples, layer groups, and where each example's files are."""

from __future__ import annotations

import pytest

from bertscope import BertscopeError
from bertscope.plan import (
    CONDUCTANCE_FILES,
    conductance_file,
    example_batches,
    example_file,
    group_name,
    layer_groups,
)


def test_examples_form_consecutive_batches_named_after_their_examples():
    ids = [f"q{i}" for i in range(1, 6)]
    assert example_batches(ids, 2) == {"q1..q2": ["q1", "q2"], "q3..q4": ["q3", "q4"], "q5": ["q5"]}
    assert example_batches(ids, 1) == {example: [example] for example in ids}
    assert example_batches(ids, 8) == {"q1..q5": ids}


def test_colliding_batch_names_are_refused_with_the_fix():
    with pytest.raises(BertscopeError, match=r"examples_per_job.*'a..b' collide.*Fix: rename"):
        example_batches(["a", "b", "a..b"], 2)


def test_layer_groups_cover_every_layer_once():
    assert layer_groups(12, 1) == [(layer, layer) for layer in range(1, 13)]
    assert layer_groups(12, 5) == [(1, 5), (6, 10), (11, 12)]
    assert layer_groups(12, "all") == [(1, 12)]
    assert group_name(1, 12) == "layers_01-12"


def test_conductance_files_match_their_glob(tmp_path):
    path = conductance_file(tmp_path, "q1.a", 3)
    path.parent.mkdir()
    path.write_text("")
    assert list(tmp_path.glob(CONDUCTANCE_FILES)) == [path]
    assert example_file(tmp_path, "q1.a").name == "q1.a.safetensors"
