"""The cross-example summary step, run on synthetic table datasets (parts of several examples each) of examples
with different token counts."""

from __future__ import annotations

import html
import importlib
import re
import xml.etree.ElementTree as ElementTree
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from conftest import with_scores
from matplotlib.collections import PathCollection
from matplotlib.patches import PathPatch

from bertscope import TARGETS, BertscopeError
from bertscope.figures.style import MIN_BOX_POINTS, number_label, power_of_ten, symmetric_scale
from bertscope.tables.io import write_table
from bertscope.tables.part1 import delta_rows, layer_summary_rows, token_rows
from bertscope.tables.summary import (
    CATEGORIES,
    dataset_parts,
    delta_magnitudes,
    entropy_quantiles,
    mean_layer_attribution,
    mean_layer_attribution_of_dataset,
    token_categories,
)

LAYERS, HIDDEN = 3, 40
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
ONE_TRY = {"n_steps": 50, "converged": None, "tries": [[50, [0.01, 0.02]]]}
"""An attribution record of an integer n_steps: one try, not judged."""
FIGURES = ("mean_layer_attribution", "entropy_by_layer", "convergence_deltas")
TABLES = ("token_attributions", "layer_summary", "convergence_deltas", "predictions")

# id → (tokens, true_start, true_end, predicted answer). Token counts differ; 'short' has its answer first in the
# context (no context before it), 'long' has its answer last (no context after it).
EXAMPLES = {
    "tutorial": (["[CLS]", "What", "is", "it", "?", "[SEP]", "It", "is", "us", "now", ".", "[SEP]"], 8, 8, "us"),
    "short": (["[CLS]", "Who", "?", "[SEP]", "<b>&", "kinds", "[SEP]"], 4, 4, "<b>&"),
    "long": (
        ["[CLS]", "Where", "is", "help", "?", "[SEP]", "We", "help", "them", "it", "all", "kinds", "[SEP]"],
        9,
        11,
        "it all kinds",
    ),
}


def build_tables(
    directory: Path, examples: dict, seed: int = 0, zero_delta: bool = False, parts: int = 2
) -> dict[str, Path]:
    """Every summary table as a dataset directory (``directory/{table}/part{i}.parquet``), the examples split over
    ``parts`` parts in order (as batches split them). Returns table → dataset directory."""
    rng = np.random.default_rng(seed)
    by_example: dict[str, dict[str, list[pd.DataFrame]]] = {}
    for example, (tokens, start, end, answer) in examples.items():
        frames = by_example[example] = {
            "token_attributions": [],
            "layer_summary": [],
            "convergence_deltas": [],
            "predictions": [],
        }
        frames["convergence_deltas"].append(delta_rows(example, "embeddings", None, rng.normal(size=2) * 1e-2, ONE_TRY))
        frames["convergence_deltas"].append(
            delta_rows(example, "subembeddings", None, rng.normal(size=2) * 1e-3, ONE_TRY)
        )
        for layer in range(1, LAYERS + 1):
            conductance = rng.normal(size=(2, len(tokens), HIDDEN))
            summed = conductance.sum(-1)
            summary = summed / np.linalg.norm(summed, axis=-1, keepdims=True)
            frames["token_attributions"].append(token_rows(example, "layer", layer, tokens, summary))
            frames["layer_summary"].append(layer_summary_rows(example, layer, conductance[:, end], rng.normal(size=2)))
            delta = np.zeros(2) if zero_delta and layer == 1 else rng.normal(size=2) * 1e-4
            frames["convergence_deltas"].append(delta_rows(example, "layer", layer, delta, ONE_TRY))
        frames["token_attributions"].append(
            token_rows(example, "embeddings", None, tokens, rng.normal(size=(2, len(tokens))))
        )
        prediction = with_scores(
            {
                "example": example,
                "predicted_start": start,
                "predicted_end": end + 1,
                "predicted_answer": answer,
                "start_prob": rng.uniform(),
                "end_prob": rng.uniform(),
                "true_start": start,
                "true_end": end,
                "delta_start": 0.0,
                "delta_end": 0.0,
            }
        )
        frames["predictions"].append(pd.DataFrame([prediction]))
    groups = [list(group) for group in np.array_split(np.array(list(examples)), parts) if len(group)]
    paths = {}
    for table in TABLES:
        paths[table] = directory / table
        for number, group in enumerate(groups, 1):
            frame = pd.concat([frame for example in group for frame in by_example[example][table]], ignore_index=True)
            write_table(frame, table, paths[table] / f"part{number}.parquet", {"bertscope.model": "tiny"})
    return paths


@pytest.fixture(scope="module")
def tables(tmp_path_factory) -> dict[str, Path]:
    return build_tables(tmp_path_factory.mktemp("summary_tables"), EXAMPLES)


@pytest.fixture(scope="module")
def one_example_tables(tmp_path_factory) -> dict[str, Path]:
    return build_tables(tmp_path_factory.mktemp("one_example"), {"tutorial": EXAMPLES["tutorial"]}, seed=1, parts=1)


def run(tables: dict[str, Path], directory: Path) -> dict:
    output = {name: [directory / f"{name}.png", directory / f"{name}.svg"] for name in FIGURES}
    output["summary_html"] = directory / "examples.html"
    smk = SimpleNamespace(
        input=SimpleNamespace(),
        output=SimpleNamespace(**output),
        params=SimpleNamespace(
            model="tiny-bert",
            n_steps=7,
            procedure="tutorial",
            target="max_logit",
            tables=list(tables),
            datasets=[str(path) for path in tables.values()],
        ),
        wildcards=SimpleNamespace(),
        log=[],
    )
    importlib.import_module("plot_summary").main(smk)
    return output


def layer_rows(tables) -> pd.DataFrame:
    frame = pd.read_parquet(tables["token_attributions"], filters=[("source", "==", "layer")])
    return frame.assign(layer=frame["layer"].astype(int))


@pytest.mark.parametrize("which", ["tables", "one_example_tables"])
def test_writes_exactly_its_outputs(which, request, tmp_path):
    paths = run(request.getfixturevalue(which), tmp_path)
    flat = [path for value in paths.values() for path in (value if isinstance(value, list) else [value])]
    assert sorted(tmp_path.iterdir()) == sorted(flat), "only the declared outputs, no leftovers"
    examples = 3 if which == "tables" else 1
    for path in flat:
        data = path.read_bytes()
        if path.suffix == ".png":
            assert data.startswith(PNG_SIGNATURE), path
        elif path.suffix == ".svg":
            assert ElementTree.fromstring(data).tag.endswith("svg"), path
        else:
            text = data.decode("utf-8")
            assert text.startswith("<!DOCTYPE html>") and '<meta charset="utf-8">' in text
            assert (
                f"model: tiny-bert · n_steps: 7 · procedure: tutorial · target: max_logit · examples: {examples}"
                in text
            )


def test_token_categories_follow_the_input_layout():

    tokens, start, end, _ = EXAMPLES["tutorial"]
    names = [CATEGORIES[i] for i in token_categories(tokens, start, end, "tutorial")]
    assert names == [
        "[CLS]",
        *["Question"] * 4,
        "First [SEP]",
        *["Context before answer"] * 2,
        "Answer",
        *["Context after answer"] * 2,
        "Final [SEP]",
    ]
    tokens, start, end, _ = EXAMPLES["short"]
    names = [CATEGORIES[i] for i in token_categories(tokens, start, end, "short")]
    assert "Context before answer" not in names and names[4:6] == ["Answer", "Context after answer"]


def test_the_null_answer_has_no_answer_tokens():
    tokens = EXAMPLES["tutorial"][0]
    names = [CATEGORIES[i] for i in token_categories(tokens, 0, 0, "unanswerable")]
    assert names == ["[CLS]", *["Question"] * 4, "First [SEP]", *["Context before answer"] * 5, "Final [SEP]"]


@pytest.mark.parametrize(("start", "end"), [(5, 5), (2, 3), (11, 11), (9, 8)])
def test_answer_outside_the_context_is_a_table_error(start, end):

    with pytest.raises(BertscopeError, match=r"example 'tutorial'.*rebuild the tables"):
        token_categories(EXAMPLES["tutorial"][0], start, end, "tutorial")


def test_mean_layer_attribution_is_the_mean_of_category_sums(tables):

    grids = mean_layer_attribution(layer_rows(tables), pd.read_parquet(tables["predictions"]))
    assert list(grids) == list(TARGETS)
    rows = layer_rows(tables)
    for target, grid in grids.items():
        assert grid.shape == (LAYERS, len(CATEGORIES))
        assert list(grid.index) == list(range(1, LAYERS + 1)) and list(grid.columns) == list(CATEGORIES)
        for layer in range(1, LAYERS + 1):
            answers, before = [], []
            for example, (_, start, end, _) in EXAMPLES.items():
                selected = rows[(rows["example"] == example) & (rows["target"] == target) & (rows["layer"] == layer)]
                values = selected.sort_values("token_index")["attribution"].to_numpy()
                answers.append(values[start : end + 1].sum())
                first_sep = EXAMPLES[example][0].index("[SEP]")
                before.append(values[first_sep + 1 : start].sum())  # empty for 'short': 0
            assert grid.at[layer, "Answer"] == pytest.approx(np.mean(answers))
            assert grid.at[layer, "Context before answer"] == pytest.approx(np.mean(before))
            total = rows.loc[(rows["target"] == target) & (rows["layer"] == layer), "attribution"].sum() / len(EXAMPLES)
            assert grid.loc[layer].sum() == pytest.approx(total), "every token is in exactly one category"


def test_heatmap_has_one_row_per_layer_in_each_panel(tables):
    from bertscope.figures.summary import mean_layer_heatmap

    fig = mean_layer_heatmap(mean_layer_attribution(layer_rows(tables), pd.read_parquet(tables["predictions"])), 3)
    panels = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title() for ax in panels] == [f"{target} position" for target in TARGETS]
    for ax in panels:
        assert [label.get_text() for label in ax.get_yticklabels()] == [str(n) for n in range(1, LAYERS + 1)]
        assert len(ax.get_xticklabels()) == len(CATEGORIES)
    assert panels[0].get_ylabel() == "Layers"
    (colour_bar,) = [ax for ax in fig.axes if ax.get_ylabel() == "Mean summed attribution"]
    grids = mean_layer_attribution(layer_rows(tables), pd.read_parquet(tables["predictions"]))
    limit, ticks = symmetric_scale(np.concatenate([grid.to_numpy().ravel() for grid in grids.values()]))
    assert list(colour_bar.get_yticks()) == ticks and colour_bar.get_ylim() == (-limit, limit)


def test_entropy_medians_and_band_are_numpy_statistics(tables):
    from bertscope.figures.summary import entropy_figure

    summary = pd.read_parquet(tables["layer_summary"])
    stats = entropy_quantiles(summary)
    assert len(stats) == len(TARGETS) * LAYERS and set(stats["examples"]) == {len(EXAMPLES)}
    for row in stats.itertuples():
        values = summary.query("target == @row.target and layer == @row.layer")["entropy"].to_numpy()
        assert len(values) == len(EXAMPLES)
        assert row.median == pytest.approx(np.median(values))
        assert (row.q1, row.q3) == pytest.approx(tuple(np.percentile(values, [25, 75])))
    fig = entropy_figure(stats, len(EXAMPLES))
    ax = fig.axes[0]
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("Layers", "Entropy (bits)")
    lines = {line.get_label(): line for line in ax.get_lines()}
    for target in TARGETS:
        line = lines[f"{target}: median"]
        expected = summary[summary["target"] == target].groupby("layer")["entropy"].agg(np.median)
        np.testing.assert_array_equal(line.get_xdata(), expected.index.to_numpy())
        np.testing.assert_allclose(line.get_ydata(), expected.to_numpy())


def test_one_example_band_collapses_to_its_values(one_example_tables):

    summary = pd.read_parquet(one_example_tables["layer_summary"])
    stats = entropy_quantiles(summary).merge(summary, on=["target", "layer"])
    np.testing.assert_allclose(stats["median"], stats["entropy"])
    np.testing.assert_allclose(stats["q1"], stats["entropy"])
    np.testing.assert_allclose(stats["q3"], stats["entropy"])


def test_convergence_figure_counts_every_attribution(tables):
    from bertscope.figures.summary import delta_figure

    deltas = pd.read_parquet(tables["convergence_deltas"])
    fig = delta_figure(delta_magnitudes(deltas), len(EXAMPLES))
    ax = fig.axes[0]
    assert ax.get_title().startswith(f"Convergence deltas of {len(deltas)} attributions (3 examples")
    assert ax.get_xscale() == "log"
    assert [label.get_text() for label in ax.get_yticklabels()] == [
        f"embeddings (n={2 * len(EXAMPLES)})",
        f"subembeddings (n={2 * len(EXAMPLES)})",
        f"layer (n={2 * LAYERS * len(EXAMPLES)})",
    ]
    median = [line for line in ax.get_lines() if line.get_label().startswith("median")]
    assert len(median) == 1 and median[0].get_xdata()[0] == pytest.approx(np.median(deltas["delta"].abs()))
    assert median[0].get_label() == f"median |delta| = {number_label(np.median(deltas['delta'].abs()))}"
    fig.canvas.draw()
    labels = [label.get_text() for label in ax.get_xticklabels()]
    assert len(labels) >= 2 and all(re.fullmatch("10[⁻]?[⁰¹²³⁴⁵⁶⁷⁸⁹]+", label) for label in labels), labels
    assert ax.get_xlim() == (ax.get_xticks()[0], ax.get_xticks()[-1]), "the axis runs from a power of ten to one"
    assert all(ax.get_xlim()[0] <= value <= ax.get_xlim()[1] for value in deltas["delta"].abs())


def test_zero_deltas_use_a_symmetric_log_scale(tmp_path):
    from bertscope.figures.summary import delta_figure

    paths = build_tables(tmp_path / "tables", EXAMPLES, zero_delta=True)
    deltas = pd.read_parquet(paths["convergence_deltas"])
    assert (deltas["delta"] == 0).any()
    fig = delta_figure(delta_magnitudes(deltas), len(EXAMPLES))
    ax = fig.axes[0]
    assert ax.get_xscale() == "symlog"
    fig.canvas.draw()
    labels = [label.get_text() for label in ax.get_xticklabels()]
    assert labels[0] == "0" and all(re.fullmatch("10[⁻]?[⁰¹²³⁴⁵⁶⁷⁸⁹]+", label) for label in labels[1:]), labels
    smallest = deltas.loc[deltas["delta"] != 0, "delta"].abs().min()
    assert ax.get_xticks()[1] <= smallest < 10 * ax.get_xticks()[1], "linear below the smallest delta's decade"
    assert ax.get_xlabel().endswith(f"linear below {power_of_ten(ax.get_xticks()[1])})")
    run(paths, tmp_path / "figures")


def test_examples_page_lists_every_example(tables, tmp_path):
    output = run(tables, tmp_path)
    text = output["summary_html"].read_text()
    deltas = pd.read_parquet(tables["convergence_deltas"])
    predictions = pd.read_parquet(tables["predictions"]).set_index("example")
    assert "<b>&" not in text and "<td>&lt;b&gt;&amp;</td>" in text
    for example, (_, start, end, answer) in EXAMPLES.items():
        largest = deltas.loc[deltas["example"] == example, "delta"].abs().max()
        row = (
            f"<tr><td>{example}</td><td>{html.escape(answer)}</td>"
            f'<td class="num">{start}</td><td class="num">{end}</td>'
            f'<td class="num">{start}</td><td class="num">{end + 1}</td>'
            f'<td class="num">{predictions.at[example, "start_prob"]:.3f}</td>'
            f'<td class="num">{predictions.at[example, "end_prob"]:.3f}</td>'
            f'<td class="num">{largest:.3g}</td></tr>'
        )
        assert row in text, example
    assert text.count("<tr><td>") == len(EXAMPLES)


def test_example_without_prediction_is_a_table_error(tables, tmp_path):

    predictions = pd.read_parquet(tables["predictions"]).query("example != 'long'")
    with pytest.raises(BertscopeError, match="table predictions: no row for example 'long'"):
        mean_layer_attribution(layer_rows(tables), predictions)


def test_datasets_are_split_over_parts(tables):
    parts = dataset_parts(tables["token_attributions"])
    assert [part.name for part in parts] == ["part1.parquet", "part2.parquet"]
    examples = [set(pd.read_parquet(part, columns=["example"])["example"]) for part in parts]
    assert examples == [{"tutorial", "short"}, {"long"}]


def test_mean_layer_attribution_of_a_dataset_equals_that_of_the_whole_table(tables):
    predictions = pd.read_parquet(tables["predictions"])
    grids, examples = mean_layer_attribution_of_dataset(tables["token_attributions"], predictions)
    assert examples == len(EXAMPLES)
    parts = [pd.read_parquet(part) for part in dataset_parts(tables["token_attributions"])]
    whole = pd.concat(parts, ignore_index=True).query("source == 'layer'")
    expected = mean_layer_attribution(whole.assign(layer=whole["layer"].astype(int)), predictions)
    assert list(grids) == list(expected) == list(TARGETS)
    for target in TARGETS:
        pd.testing.assert_frame_equal(grids[target], expected[target], check_exact=False, rtol=1e-12)


def test_staging_files_in_a_dataset_are_not_parts(tmp_path):
    paths = build_tables(tmp_path / "tables", EXAMPLES)
    for dataset in paths.values():
        (dataset / ".part3.parquet+abc123.parquet").write_bytes(b"left by a killed run")
    assert [part.name for part in dataset_parts(paths["token_attributions"])] == ["part1.parquet", "part2.parquet"]
    _, examples = mean_layer_attribution_of_dataset(paths["token_attributions"], pd.read_parquet(paths["predictions"]))
    assert examples == len(EXAMPLES)
    output = run(paths, tmp_path / "figures")
    assert (
        "model: tiny-bert · n_steps: 7 · procedure: tutorial · target: max_logit · examples: 3"
        in output["summary_html"].read_text()
    )


def test_dataset_without_parts_is_a_table_error(tmp_path):
    (tmp_path / "token_attributions").mkdir()
    with pytest.raises(BertscopeError, match=r"table token_attributions: .* has no parts.*rebuild the tables"):
        mean_layer_attribution_of_dataset(tmp_path / "token_attributions", pd.DataFrame())


def scatter_points_per_source(ax, sources: list[str]) -> dict[str, int]:
    """How many points the scatter collections draw at each source's row (rows are 0, 1, ...; jitter < 0.5)."""
    counts = dict.fromkeys(sources, 0)
    for collection in ax.collections:
        if isinstance(collection, PathCollection):
            for row in np.rint(collection.get_offsets()[:, 1]).astype(int):
                counts[sources[row]] += 1
    return counts


def test_convergence_figure_draws_at_most_a_sample_of_each_source():
    from bertscope.figures.summary import MAX_POINTS_PER_SOURCE, delta_figure

    rng = np.random.default_rng(3)
    many = MAX_POINTS_PER_SOURCE // 2 + 300  # examples whose layer deltas exceed the limit
    deltas = pd.concat(
        [
            *(delta_rows(f"e{i}", "embeddings", None, rng.uniform(1e-4, 1e-2, 2), ONE_TRY) for i in range(40)),
            *(delta_rows(f"e{i}", "layer", 1, rng.uniform(1e-5, 1e-3, 2), ONE_TRY) for i in range(many)),
        ],
        ignore_index=True,
    )
    magnitudes = delta_magnitudes(deltas)
    fig = delta_figure(magnitudes, many)
    ax = fig.axes[0]
    counts = scatter_points_per_source(ax, ["embeddings", "layer"])
    assert counts == {"embeddings": 80, "layer": MAX_POINTS_PER_SOURCE}
    assert f"{80 + MAX_POINTS_PER_SOURCE} points drawn, a random sample" in ax.get_title()
    assert [label.get_text() for label in ax.get_yticklabels()] == ["embeddings (n=80)", f"layer (n={2 * many})"]
    median = [line for line in ax.get_lines() if line.get_label().startswith("median")]
    assert median[0].get_xdata()[0] == pytest.approx(np.median(magnitudes["abs_delta"])), "over every point"
    offsets = np.concatenate([c.get_offsets() for c in ax.collections if isinstance(c, PathCollection)])
    for row, source in enumerate(["embeddings", "layer"]):
        drawn = offsets[np.rint(offsets[:, 1]) == row, 0]
        values = magnitudes.loc[magnitudes["source"] == source, "abs_delta"].to_numpy()
        assert np.isin(drawn, values).all() and len(np.unique(drawn)) == len(drawn), source


def test_convergence_figure_draws_every_point_up_to_the_limit(tables):
    from bertscope.figures.summary import delta_figure

    magnitudes = delta_magnitudes(pd.read_parquet(tables["convergence_deltas"]))
    ax = delta_figure(magnitudes, len(EXAMPLES)).axes[0]
    counts = scatter_points_per_source(ax, ["embeddings", "subembeddings", "layer"])
    assert counts == {
        "embeddings": 2 * len(EXAMPLES),
        "subembeddings": 2 * len(EXAMPLES),
        "layer": 2 * LAYERS * len(EXAMPLES),
    }
    assert "random sample" not in ax.get_title()


@pytest.mark.parametrize(("which", "boxed"), [("tables", 3), ("one_example_tables", 1)])
def test_convergence_boxes_only_sources_of_five_attributions_or_more(which, boxed, request):
    from bertscope.figures.summary import delta_figure

    tables = request.getfixturevalue(which)
    magnitudes = delta_magnitudes(pd.read_parquet(tables["convergence_deltas"]))
    counts = magnitudes["source"].value_counts()
    assert (counts >= MIN_BOX_POINTS).sum() == boxed
    ax = delta_figure(magnitudes, magnitudes["example"].nunique()).axes[0]
    boxes = [patch for patch in ax.patches if isinstance(patch, PathPatch)]
    assert len(boxes) == boxed
    rows = sorted(np.rint(box.get_path().vertices[:, 1].mean()) for box in boxes)
    sources = list(dict.fromkeys(magnitudes["source"]))
    assert [sources[int(row)] for row in rows] == [s for s in sources if counts[s] >= MIN_BOX_POINTS]
    drawn = scatter_points_per_source(ax, sources)
    assert drawn == counts.to_dict(), "every attribution is a point, boxed or not"
