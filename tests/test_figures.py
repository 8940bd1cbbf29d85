"""The example figures step, run on one batch's small synthetic table parts: every chosen example gets its own
folder with exactly its figures and pages, each valid and right."""

from __future__ import annotations

import csv
import html
import importlib
import xml.etree.ElementTree as ElementTree
from pathlib import Path
from types import SimpleNamespace

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from conftest import with_scores
from matplotlib.patches import PathPatch, StepPatch

from bertscope import TARGETS, BertscopeError
from bertscope.figures import attention
from bertscope.figures.examples import FIGURES, RIDGE_HEIGHT, boxplot, density, entropy, heatmap, mass_function
from bertscope.figures.style import MIN_BOX_POINTS, symmetric_scale, token_label
from bertscope.tables.io import conform, write_table
from bertscope.tables.part1 import DENSITY_BINS, attribution_pmf, distribution_rows, layer_summary_rows, token_rows

EXAMPLE, OTHER = "ex", "q2"
TOKENS = ["[CLS]", "What", "<b>&", "?", "[SEP]", "It", "kinds", "[SEP]"]
OTHER_TOKENS = ["[CLS]", "Who", "?", "[SEP]", "people", "help", "them", "[SEP]"]
LAYERS, HIDDEN, EXPLAINED = 3, 6, 6
FORMATS = ["png", "svg", "pdf"]
TABLES = ("token_attributions", "token_distributions", "layer_summary", "predictions")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

# Start and end summaries of the embeddings: 0.6 and -0.5 have known captum colours.
EMBEDDINGS = np.array(
    [
        [0.1, 0.6, -0.5, 0.2, 0.0, 0.3, -0.1, 0.05],
        [0.0, -0.2, 0.1, 0.0, 0.1, 0.4, 0.7, -0.3],
    ]
)
# Word and token type summaries rank the tokens differently and have different values.
WORD = np.array(
    [
        [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2],
        [0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9],
    ]
)
TOKEN_TYPE = np.array(
    [
        [-0.11, -0.12, -0.13, 0.31, 0.32, 0.33, 0.34, 0.35],
        [0.35, 0.34, 0.33, 0.32, 0.31, -0.11, -0.12, -0.13],
    ]
)


class Section(SimpleNamespace):
    """Snakemake's input/output/params: items read by attribute or by name."""

    def __getitem__(self, name):
        return getattr(self, name)


def example_frames(example: str, tokens: list[str], rng, word, token_type, prediction: dict) -> dict[str, list]:
    """Every table's rows of one synthetic example, built as build_tables builds them."""
    frames = {
        "token_attributions": [
            token_rows(example, "embeddings", None, tokens, EMBEDDINGS),
            token_rows(example, "word", None, tokens, word),
            token_rows(example, "token_type", None, tokens, token_type),
            token_rows(example, "position", None, tokens, rng.normal(size=(2, len(tokens)))),
        ],
        "token_distributions": [],
        "layer_summary": [],
        "predictions": [pd.DataFrame([{"example": example, **prediction}])],
    }
    for layer in range(1, LAYERS + 1):
        conductance = rng.normal(size=(2, len(tokens), HIDDEN))
        summed = conductance.sum(-1)
        summary = summed / np.linalg.norm(summed, axis=-1, keepdims=True)
        vector = conductance[:, EXPLAINED, :]
        frames["token_attributions"].append(token_rows(example, "layer", layer, tokens, summary))
        frames["token_distributions"].append(distribution_rows(example, layer, EXPLAINED, tokens[EXPLAINED], vector))
        frames["layer_summary"].append(layer_summary_rows(example, layer, vector, rng.normal(size=2) * 1e-3))
    return frames


PREDICTION = with_scores(
    {
        "predicted_start": 5,
        "predicted_end": 6,
        "predicted_answer": "It kinds",
        "start_prob": 0.8123,
        "end_prob": 0.4567,
        "true_start": 5,
        "true_end": 6,
        "delta_start": 0.0123,
        "delta_end": -0.0045,
    }
)
OTHER_PREDICTION = with_scores(
    {
        "predicted_start": 4,
        "predicted_end": 5,
        "predicted_answer": "people help",
        "start_prob": 0.3141,
        "end_prob": 0.2718,
        "true_start": 4,
        "true_end": 6,
        "delta_start": 0.0456,
        "delta_end": 0.0789,
    }
)


@pytest.fixture(scope="module")
def tables(tmp_path_factory) -> dict[str, Path]:
    """One batch of two examples: each table's part, as a single Parquet file with both examples' rows."""
    directory = tmp_path_factory.mktemp("tables")
    rng = np.random.default_rng(0)
    parts = [
        example_frames(EXAMPLE, TOKENS, rng, WORD, TOKEN_TYPE, PREDICTION),
        example_frames(OTHER, OTHER_TOKENS, rng, WORD[::-1], TOKEN_TYPE[::-1], OTHER_PREDICTION),
    ]
    paths = {}
    for table in TABLES:
        paths[table] = directory / table / "ex..q2.parquet"
        frame = pd.concat([frame for part in parts for frame in part[table]], ignore_index=True)
        write_table(conform(frame, table), table, paths[table], {"bertscope.model": "tiny"})
    return paths


def run(tables: dict[str, Path], directory: Path, examples=(EXAMPLE, OTHER), formats=FORMATS) -> Path:
    """plot_examples' main on the batch; returns its output directory."""
    figures = directory / "figures"
    smk = SimpleNamespace(
        input=Section(**{name: str(path) for name, path in tables.items()}),
        output=Section(figures=str(figures)),
        params=Section(
            examples=list(examples),
            model="tiny-bert",
            n_steps=7,
            procedure="tutorial",
            target="max_logit",
            figure_formats=list(formats),
            attention=False,
        ),
        wildcards=Section(batch="ex..q2"),
        log=[],
    )
    importlib.import_module("plot_examples").main(smk)
    return figures


def expected_files(formats=FORMATS) -> list[str]:
    names = []
    for target in ("start", "end"):
        names += [f"token_attributions_{target}.html", f"top5_{target}.html", f"top5_{target}.csv"]
        names += [f"{figure}_{target}.{fmt}" for figure in FIGURES for fmt in formats]
    return sorted(names)


def test_writes_exactly_its_outputs_one_folder_per_example(tables, tmp_path):
    figures = run(tables, tmp_path)
    assert [path.name for path in tmp_path.iterdir()] == ["figures"], "no staging left behind"
    assert sorted(path.name for path in figures.iterdir()) == [EXAMPLE, OTHER]
    for example in (EXAMPLE, OTHER):
        folder = figures / example
        assert sorted(path.name for path in folder.iterdir()) == expected_files(), "only the outputs, no leftovers"
        for path in folder.iterdir():
            data = path.read_bytes()
            assert data, path
            if path.suffix == ".png":
                assert data.startswith(PNG_SIGNATURE), path
            elif path.suffix == ".svg":
                assert ElementTree.fromstring(data).tag.endswith("svg"), path
            elif path.suffix == ".pdf":
                assert data.startswith(b"%PDF-") and data.rstrip().endswith(b"%%EOF"), path
            elif path.suffix == ".html":
                text = data.decode("utf-8")
                assert text.startswith("<!DOCTYPE html>") and '<meta charset="utf-8">' in text
                assert (
                    f"model: tiny-bert · n_steps: 7 · procedure: tutorial · target: max_logit · example: {example}"
                    in text
                ), path


def test_only_the_chosen_examples_are_drawn_in_the_chosen_formats(tables, tmp_path):
    figures = run(tables, tmp_path, examples=[OTHER], formats=["svg"])
    assert [path.name for path in figures.iterdir()] == [OTHER]
    assert sorted(path.name for path in (figures / OTHER).iterdir()) == expected_files(["svg"])
    text = (figures / OTHER / "token_attributions_start.html").read_text()
    assert "example: q2" in text and "example: ex" not in text


def test_no_chosen_example_writes_an_empty_directory(tables, tmp_path):
    assert list(run(tables, tmp_path, examples=[]).iterdir()) == []


def test_example_missing_from_the_parts_is_a_user_error(tables, tmp_path):
    with pytest.raises(BertscopeError, match=r"example 'missing': table part .*token_attributions.* no rows"):
        run(tables, tmp_path, examples=[EXAMPLE, "missing"])
    assert not any(tmp_path.iterdir()), "no output and no staging after a failure"


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def example_rows(tables: dict[str, Path], table: str, example: str = EXAMPLE) -> pd.DataFrame:
    return pd.read_parquet(tables[table], filters=[("example", "==", example)])


def test_heatmap_has_one_row_per_layer_and_a_colour_bar_ticked_to_its_ends(tables):
    frame = example_rows(tables, "token_attributions").query("source == 'layer'")
    ax, colour_bar = heatmap(frame, "end", EXAMPLE).axes
    assert [label.get_text() for label in ax.get_yticklabels()] == [str(layer) for layer in range(1, LAYERS + 1)]
    assert [label.get_text() for label in ax.get_xticklabels()] == [
        token_label(token, index) for index, token in enumerate(TOKENS)
    ]
    assert (ax.get_ylabel(), ax.get_xlabel(), ax.get_title()) == (
        "Layers",
        "Tokens",
        "Layer conductance per token\nend position · example ex",
    )
    limit, ticks = symmetric_scale(frame.query("target == 'end'")["attribution"].to_numpy())
    assert limit >= frame.query("target == 'end'")["attribution"].abs().max()
    assert list(colour_bar.get_yticks()) == ticks and colour_bar.get_ylim() == (-limit, limit)


def test_token_labels_tell_repeated_tokens_apart():
    tokens = ["to", "us", "to", "[SEP]", "to"]
    assert [token_label(token, index) for index, token in enumerate(tokens)] == ["to₀", "us₁", "to₂", "[SEP]₃", "to₄"]
    assert token_label("kinds", 23) == "kinds₂₃"


@pytest.mark.parametrize(
    ("largest", "limit"), [(1.0, 1.0), (0.98, 1.0), (0.74, 0.8), (1.44, 1.6), (2.5, 3.0), (7e-4, 8e-4), (0.0, 1.0)]
)
def test_colour_scale_holds_every_value_and_is_ticked_at_both_ends(largest, limit):
    got, ticks = symmetric_scale(np.array([0.1 * largest, -largest]))
    assert got == pytest.approx(limit) and got >= largest
    assert ticks == pytest.approx([-limit, -limit / 2, 0.0, limit / 2, limit])


@pytest.mark.parametrize(("example", "tokens"), [(EXAMPLE, TOKENS), (OTHER, OTHER_TOKENS)])
def test_every_figure_title_names_the_example_the_target_and_the_explained_token(tables, example, tokens):
    frames = {table: example_rows(tables, table, example) for table in TABLES}
    layers = frames["token_attributions"].query("source == 'layer'")
    distributions, summary = frames["token_distributions"], frames["layer_summary"]
    for target in TARGETS:
        figures = [
            heatmap(layers, target, example),
            boxplot(distributions, target, example),
            density(distributions, target, example),
            entropy(summary, distributions, target, example),
        ]
        for fig in figures:
            title = fig.axes[0].get_title()
            assert title.endswith(f"\n{target} position · example {example}"), title
        for fig in figures[1:]:
            assert f"token {token_label(tokens[EXPLAINED], EXPLAINED)} per layer" in fig.axes[0].get_title()


def ridges(ax) -> list[StepPatch]:
    """The outlines of a ridgeline's ridges, top to bottom (each ridge is a filled patch and its outline)."""
    return [patch for patch in ax.patches if isinstance(patch, StepPatch) and not patch.get_fill()]


def test_density_is_a_ridgeline_of_each_layers_mass_function_over_attribution_values(tables):
    distributions = example_rows(tables, "token_distributions")
    ax = density(distributions, "start", EXAMPLE).axes[0]
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("Attribution (conductance per hidden dimension)", "Layers")
    assert f"{DENSITY_BINS}-bin histogram over each layer's range, normalised to sum to 1" in ax.get_title()
    assert [label.get_text() for label in ax.get_yticklabels()] == [str(n) for n in range(LAYERS, 0, -1)]
    rows = distributions.query("target == 'start'")
    assert len(ridges(ax)) == LAYERS
    for layer, ridge in enumerate(ridges(ax), 1):
        values = rows.query("layer == @layer").sort_values("dim")["attribution"].to_numpy()
        heights, edges, baseline = ridge.get_data()
        pmf = attribution_pmf(values)
        assert baseline == LAYERS - layer, "layer 1 on top, one row per layer"
        np.testing.assert_allclose(edges, np.histogram_bin_edges(values, DENSITY_BINS), err_msg="attribution values")
        np.testing.assert_allclose(heights - baseline, pmf / pmf.max() * RIDGE_HEIGHT)
        assert f"{pmf.max():.3f}" in [text.get_text() for text in ax.texts], "each ridge's peak mass is written"


def test_a_layer_of_equal_values_is_one_bin_at_that_value(tables):
    mass, edges = mass_function(np.full(5, 0.25))
    assert mass.tolist() == [1.0] and edges.tolist() == [0.25, 0.25]
    distributions = example_rows(tables, "token_distributions")
    small = distributions.assign(attribution=distributions["attribution"] * 1e-3)
    small.loc[small["layer"] == LAYERS, "attribution"] = 0.0
    ax = density(small, "end", EXAMPLE).axes[0]
    heights, edges, baseline = ridges(ax)[-1].get_data()
    assert edges.tolist() == [0.0, 0.0] and heights.tolist() == [baseline + RIDGE_HEIGHT]
    assert f"all {HIDDEN} values = 0" in [text.get_text() for text in ax.texts]
    assert max(np.abs(ax.get_xlim())) < 0.05, "not numpy's value ± 0.5 for a histogram of equal values"


def test_entropy_has_its_own_axis_from_zero_to_the_largest_entropy_possible(tables):
    summary, distributions = example_rows(tables, "layer_summary"), example_rows(tables, "token_distributions")
    top, bottom = entropy(summary, distributions, "end", EXAMPLE).axes
    assert (top.get_ylabel(), bottom.get_ylabel(), bottom.get_xlabel()) == (
        "Total attribution",
        "Entropy (bits)",
        "Layers",
    )
    rows = summary.query("target == 'end'").sort_values("layer")
    (totals,) = [line for line in top.get_lines() if line.get_marker() == "o"]
    (entropies,) = [line for line in bottom.get_lines() if line.get_marker() == "o"]
    np.testing.assert_allclose(totals.get_ydata(), rows["total_attribution"])
    np.testing.assert_allclose(entropies.get_ydata(), rows["entropy"])
    assert not entropies.get_clip_on(), "a zero entropy is drawn whole on the axis"
    largest = np.log2(min(DENSITY_BINS, HIDDEN))
    assert bottom.get_ylim()[0] == 0 and bottom.get_ylim()[1] > largest
    assert any(line.get_ydata()[0] == largest and line.get_linestyle() == "--" for line in bottom.get_lines())


def test_a_layer_of_fewer_than_five_values_shows_its_points_instead_of_a_box(tables):
    distributions = example_rows(tables, "token_distributions")
    few = distributions[~((distributions["layer"] == 2) & (distributions["dim"] >= MIN_BOX_POINTS - 1))]
    ax = boxplot(few, "start", EXAMPLE).axes[0]
    assert len([patch for patch in ax.patches if isinstance(patch, PathPatch)]) == LAYERS - 1
    (points,) = ax.collections
    expected = few.query("target == 'start' and layer == 2")["attribution"].to_numpy()
    np.testing.assert_array_equal(points.get_offsets()[:, 0], np.full(MIN_BOX_POINTS - 1, 2))
    np.testing.assert_allclose(np.sort(points.get_offsets()[:, 1]), np.sort(expected))
    assert [label.get_text() for label in ax.get_xticklabels()] == [str(n) for n in range(1, LAYERS + 1)]


def top5_records(folder: Path, target: str) -> list[dict]:
    with open(folder / f"top5_{target}.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def expected_cells(tokens: list[str], values: np.ndarray) -> list[str]:
    order = np.argsort(-values, kind="stable")[:5]
    return [f"{tokens[i]} ({i}), {round(float(values[i]), 2)}" for i in order]


def test_top5_token_type_column_shows_token_type_values(tables, tmp_path):
    figures = run(tables, tmp_path)
    for example, tokens, word, token_type in (
        (EXAMPLE, TOKENS, WORD, TOKEN_TYPE),
        (OTHER, OTHER_TOKENS, WORD[::-1], TOKEN_TYPE[::-1]),
    ):
        for row, target in enumerate(("start", "end")):
            records = top5_records(figures / example, target)
            assert [record["Token Type(Index), Attribution"] for record in records] == expected_cells(
                tokens, token_type[row]
            )
            assert [record["Word(Index), Attribution"] for record in records] == expected_cells(tokens, word[row])
            page = (figures / example / f"top5_{target}.html").read_text()
            assert f"Top 5 attributed embeddings for {target} position" in page


def test_word_importance_page(tables, tmp_path):
    figures = run(tables, tmp_path)
    text = (figures / EXAMPLE / "token_attributions_start.html").read_text()
    for token in TOKENS:
        assert f"> {html.escape(token)} </mark>" in text
    assert "<b>&" not in text
    assert "hsl(120, 75%, 70%)" in text  # 0.6 → 100 - int(50 * 0.6)
    assert "hsl(0, 75%, 80%)" in text  # -0.5 → 100 - int(40 * 0.5)
    for header in ("True Label", "Predicted Label", "Attribution Label", "Attribution Score", "Word Importance"):
        assert f"<th>{header}</th>" in text
    assert "5 (0.81)" in text and f"{EMBEDDINGS[0].sum():.2f}" in text and "0.0123" in text
    assert "What &lt;b&gt;&amp; ?" in text and "It kinds" in text
    assert "6 (0.46)" in (figures / EXAMPLE / "token_attributions_end.html").read_text()
    other = (figures / OTHER / "token_attributions_end.html").read_text()
    assert "5 (0.27)" in other and "people help" in other and "0.0789" in other
    assert "<b>Question:</b> Who ?" in other and "It kinds" not in other


def test_a_part2_grid_labels_its_outer_panels_alone(monkeypatch, tmp_path):
    """Six panels, four a row: tokens under the lowest panel of each column (panels 3 and 4 of the first row have
    none below them) and beside the first of each row; inner panels carry no ticks at all."""
    drawn = []
    monkeypatch.setattr(attention, "save_figure", lambda fig, paths: drawn.append(fig))
    rows, columns = ["a", "b", "c"], ["x", "y", "z", "w"]
    panels = {f"head {head}": np.full((len(rows), len(columns)), float(head)) for head in range(1, 7)}
    attention.draw_grid(panels, rows, columns, "title", "colour", "footer", [tmp_path / "grid.png"])
    (fig,) = drawn
    fig.canvas.draw()
    heatmaps = [ax for ax in fig.axes if ax.get_title().startswith("head")]
    assert [ax.get_title() for ax in heatmaps] == list(panels)

    def labels(axis):
        return [label.get_text() for label in axis.get_ticklabels() if label.get_visible()]

    for number, ax in enumerate(heatmaps):
        bottom, left = number >= 2, number % 4 == 0
        assert labels(ax.xaxis) == (columns if bottom else []), number
        assert labels(ax.yaxis) == (rows if left else []), number
        assert len(ax.get_xticks()) == (len(columns) if bottom else 0), number
        assert len(ax.get_yticks()) == (len(rows) if left else 0), number
