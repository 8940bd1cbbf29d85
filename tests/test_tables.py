"""Part 1's table rows from attribution files of known numbers: every row carries the labels of its own numbers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bertscope.attribution.stored import layer_key
from bertscope.pipeline.tensor_io import BatchFile, save_batch
from bertscope.tables.part1 import example_tables
from bertscope.tables.schemas import PART1_TABLES, SCHEMAS

TOKENS = ["[CLS]", "Who", "?", "[SEP]", "it", "us", "[SEP]"]
EXPLAINED = 5
HIDDEN = 4
RECORD = {
    "tokens": TOKENS,
    "token_to_explain": EXPLAINED,
    "predicted_start": 4,
    "predicted_end": 5,
    "predicted_answer": "it us",
    "start_prob": 0.25,
    "end_prob": 0.5,
    "true_start": 5,
    "true_end": 5,
    # The scored prediction and its window, as the inputs step records them (data/prepare.py).
    "has_answer": True,
    "answer": "us",
    "span_start": 4,
    "span_end": 5,
    "span_answer": "it us",
    "span_char_span": [0, 5],
    "null_score_diff": -1.5,
    "exact": 0,
    "f1": 0.6666666666666666,
    "outcome": "wrong",
    "window": 0,
    "window_count": 1,
    "context_char_span": [0, 5],
}


def layer_sums(layer: int) -> np.ndarray:
    """Layer ``layer``'s token sums (targets, tokens): 3 and 4 at token ``layer`` (start) and ``layer + 1`` (end)."""
    sums = np.zeros((2, len(TOKENS)), dtype=np.float32)
    sums[0, layer], sums[0, 0] = 3.0 * layer, 4.0 * layer
    sums[1, layer + 1], sums[1, 0] = 4.0 * layer, 3.0 * layer
    return sums


def tried(steps: int, converged: bool | None, tries: list) -> dict:
    """An attribution record's n_steps fields (bertscope.evaluation.convergence.Converged.record)."""
    return {"n_steps": steps, "converged": converged, "tries": tries}


@pytest.fixture(scope="module")
def rows(tmp_path_factory) -> dict[str, pd.DataFrame]:
    """Every table's rows of one example whose three layers sit in two conductance files (layers 1–2, layer 3)."""
    directory = tmp_path_factory.mktemp("attributions")
    sums = np.arange(2 * len(TOKENS), dtype=np.float32).reshape(2, -1) + 1
    embeddings = {"token_sums": sums, "delta": np.array([0.5, -0.5])}
    save_batch(directory / "embeddings.safetensors", {"q": (embeddings, tried(50, None, [[50, [0.1, 0.2]]]))})
    subembeddings = {
        f"{source}.token_sums": sums * (i + 2) for i, source in enumerate(("word", "token_type", "position"))
    }
    # the sub-embeddings the model's family has
    record = {"subembeddings": ["word", "token_type", "position"], **tried(50, None, [[50, [0.3, 0.4]]])}
    save_batch(directory / "sub.safetensors", {"q": ({**subembeddings, "delta": np.array([0.25, 0.125])}, record)})
    for name, layers in (("a", [1, 2]), ("b", [3])):
        tensors = {}
        for layer in layers:
            key = layer_key(layer)
            tensors[f"{key}.token_sums"] = layer_sums(layer)
            tensors[f"{key}.explained"] = np.full((2, HIDDEN), float(layer), dtype=np.float32)
            tensors[f"{key}.delta"] = np.array([layer / 10, -layer / 10], dtype=np.float32)
        # n_steps: auto's tries: layer l's relative deltas l/100 (start) and l/1000 (end), halved at the second try
        tries = [
            [steps, [value / share for layer in layers for value in (layer / 100, layer / 1000)]]
            for steps, share in ((4, 1), (8, 2))
        ]
        record = {"layers": layers, **tried(8, name == "a", tries)}
        save_batch(directory / f"{name}.safetensors", {"q": (tensors, record)})
    files = [BatchFile(directory / f"{name}.safetensors") for name in ("embeddings", "sub", "a", "b")]
    tables = example_tables("q", RECORD, files[0], files[1], files[2:])
    return {table: pd.concat(frames, ignore_index=True) for table, frames in tables.items()}


def test_every_table_has_its_schemas_columns(rows):
    """Every Part 1 table gets rows with exactly its schema's columns (the writer puts them in schema order)."""
    assert set(rows) == set(PART1_TABLES)
    for table, frame in rows.items():
        assert sorted(frame.columns) == sorted(SCHEMAS[table]), table


@pytest.mark.parametrize("layer", [1, 2, 3])
def test_each_layers_token_rows_carry_that_layers_numbers_and_tokens(rows, layer):
    tokens = rows["token_attributions"].query("source == 'layer' and layer == @layer")
    for target, (first, second, at) in {"start": (0.8, 0.6, layer), "end": (0.6, 0.8, layer + 1)}.items():
        mine = tokens[tokens["target"] == target].sort_values("token_index")
        assert mine["token_index"].tolist() == list(range(len(TOKENS)))
        assert mine["token"].tolist() == TOKENS
        expected = np.zeros(len(TOKENS))
        expected[0], expected[at] = first, second
        np.testing.assert_allclose(mine["attribution"], expected, atol=1e-7)


def test_each_layers_summary_distribution_and_delta_are_its_own(rows):
    summary = rows["layer_summary"].sort_values(["layer", "target"])
    assert summary[["layer", "target"]].values.tolist() == [[i, t] for i in (1, 2, 3) for t in ("end", "start")]
    np.testing.assert_allclose(summary["total_attribution"], [4.0, 4.0, 8.0, 8.0, 12.0, 12.0])
    np.testing.assert_allclose(summary["convergence_delta"], [-0.1, 0.1, -0.2, 0.2, -0.3, 0.3], rtol=1e-6)
    assert (summary["entropy"] == 0).all()  # one value per layer: one bin
    distributions = rows["token_distributions"]
    assert set(distributions["token_index"]) == {EXPLAINED} and set(distributions["token"]) == {"us"}
    for layer in (1, 2, 3):
        mine = distributions[distributions["layer"] == layer]
        assert sorted(mine["dim"]) == sorted([*range(HIDDEN)] * 2)
        assert (mine["attribution"] == layer).all()
    deltas = rows["convergence_deltas"].query("source == 'layer'").sort_values(["layer", "target"])
    assert deltas["layer"].tolist() == [1, 1, 2, 2, 3, 3]
    np.testing.assert_allclose(deltas["delta"], [-0.1, 0.1, -0.2, 0.2, -0.3, 0.3], rtol=1e-6)


def test_each_attribution_carries_its_own_steps_relative_deltas_and_tries(rows):
    """A conductance file's tries hold its layers' relative deltas in layer order: each layer's rows take its own."""
    deltas = rows["convergence_deltas"].set_index(["source", "layer", "target"]).sort_index()
    layer = deltas.loc["layer"]
    assert layer["n_steps"].tolist() == [8] * 6
    assert layer["converged"].tolist() == [True, True, True, True, False, False]  # file a: layers 1-2
    np.testing.assert_allclose(layer["relative_delta"], [n / s for n in (1, 2, 3) for s in (2000, 200)])
    embeddings = deltas.xs("embeddings", level="source")
    assert embeddings["n_steps"].tolist() == [50, 50] and embeddings["converged"].isna().all()
    np.testing.assert_allclose(embeddings.sort_index(level="target", ascending=False)["relative_delta"], [0.1, 0.2])
    tries = rows["convergence_tries"].query("source == 'layer' and layer == 2 and target == 'start'")
    assert tries[["try", "n_steps"]].values.tolist() == [[1, 4], [2, 8]]
    np.testing.assert_allclose(tries["relative_delta"], [0.02, 0.01])
    assert len(rows["convergence_tries"].query("source == 'subembeddings'")) == 2


def test_embedding_and_subembedding_rows_are_labelled_by_source(rows):
    tokens = rows["token_attributions"]
    assert tokens.query("source != 'layer'")["layer"].isna().all()
    sums = np.arange(2 * len(TOKENS)).reshape(2, -1) + 1
    for source in ("embeddings", "word", "token_type", "position"):
        mine = tokens[tokens["source"] == source].sort_values(["target", "token_index"], ascending=[False, True])
        expected = sums / np.linalg.norm(sums, axis=-1, keepdims=True)
        np.testing.assert_allclose(mine["attribution"].to_numpy().reshape(2, -1), expected, rtol=1e-6)
    predictions = rows["predictions"].iloc[0]
    assert predictions[["predicted_start", "predicted_end", "true_start", "true_end"]].tolist() == [4, 5, 5, 5]
    assert (predictions["delta_start"], predictions["delta_end"]) == (0.5, -0.5)
    deltas = rows["convergence_deltas"].set_index(["source", "target"])["delta"]
    assert deltas[("subembeddings", "start")] == 0.25 and deltas[("embeddings", "end")] == -0.5


def test_the_tutorial_comparison_matches_rows_by_their_labels(rows):
    from compare_with_tutorial import aligned

    layer_rows = rows["token_attributions"].query("source == 'layer' and target == 'start'")
    labels = [(layer, index, token) for layer in (3, 2, 1) for index, token in enumerate(TOKENS)]
    columns = ("layer", "token_index", "token")
    got = aligned(layer_rows, labels, "layers start", columns)
    assert [tuple(row) for row in got[list(columns)].itertuples(index=False)] == labels
    shifted = layer_rows.assign(layer=layer_rows["layer"] + 1)
    with pytest.raises(ValueError, match=r"layers start: the rows' \(layer, token_index, token\) differ"):
        aligned(shifted, labels, "layers start", columns)
    renamed = layer_rows.assign(token=layer_rows["token"].replace("us", "them"))
    with pytest.raises(ValueError, match="missing"):
        aligned(renamed, labels, "layers start", columns)


def test_a_rebatched_dataset_keeps_only_the_current_parts_and_any_staging(tmp_path):
    """After a change of examples_per_job, the parts of the earlier batches are removed (scripts/index_tables.py),
    so that the dataset holds each row once; a job's staging file beside them is left to its job."""
    from bertscope.tables.io import remove_stale_parts

    dataset = tmp_path / "predictions"
    dataset.mkdir()
    names = ("repeated..tutorial.parquet", "repeated.parquet", "tutorial.parquet", ".tutorial.parquet+abc.parquet")
    for name in names:
        (dataset / name).write_bytes(b"part")
    current = {(dataset / name).resolve() for name in ("repeated.parquet", "tutorial.parquet")}
    assert remove_stale_parts(dataset, current) == ["repeated..tutorial.parquet"]
    assert sorted(path.name for path in dataset.iterdir()) == sorted(names[1:])
