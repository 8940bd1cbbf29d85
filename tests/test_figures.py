"""The plotting steps, run on small synthetic tables: every declared output is written, valid, and right."""

from __future__ import annotations

import csv
import html
import importlib
import xml.etree.ElementTree as ElementTree
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from bertscope import BertscopeError
from bertscope.tables import conform, distribution_rows, layer_summary_rows, token_rows, write_table

EXAMPLE = "ex"
TOKENS = ["[CLS]", "What", "<b>&", "?", "[SEP]", "It", "kinds", "[SEP]"]
LAYERS, HIDDEN, EXPLAINED = 3, 6, 6
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


@pytest.fixture(scope="module")
def tables(tmp_path_factory) -> dict[str, Path]:
    directory = tmp_path_factory.mktemp("tables")
    rng = np.random.default_rng(0)
    attributions = [
        token_rows(EXAMPLE, "embeddings", None, TOKENS, EMBEDDINGS),
        token_rows(EXAMPLE, "word", None, TOKENS, WORD),
        token_rows(EXAMPLE, "token_type", None, TOKENS, TOKEN_TYPE),
        token_rows(EXAMPLE, "position", None, TOKENS, rng.normal(size=(2, len(TOKENS)))),
    ]
    distributions, summaries = [], []
    for layer in range(1, LAYERS + 1):
        conductance = rng.normal(size=(2, len(TOKENS), HIDDEN))
        summed = conductance.sum(-1)
        summary = summed / np.linalg.norm(summed, axis=-1, keepdims=True)
        attributions.append(token_rows(EXAMPLE, "layer", layer, TOKENS, summary))
        distributions.append(distribution_rows(EXAMPLE, layer, EXPLAINED, TOKENS[EXPLAINED], conductance))
        summaries.append(layer_summary_rows(EXAMPLE, layer, EXPLAINED, conductance, rng.normal(size=2) * 1e-3))
    prediction = {
        "example": EXAMPLE,
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
    frames = {
        "token_attributions": pd.concat(attributions, ignore_index=True),
        "token_distributions": pd.concat(distributions, ignore_index=True),
        "layer_summary": pd.concat(summaries, ignore_index=True),
        "predictions": conform(pd.DataFrame([prediction]), "predictions"),
    }
    paths = {}
    for table, frame in frames.items():
        paths[table] = directory / f"{table}.parquet"
        write_table(frame, table, paths[table], {"bertscope.model": "tiny"})
    return paths


def figure_outputs(directory: Path, *names: str) -> dict[str, list[Path]]:
    return {name: [directory / f"{name}.png", directory / f"{name}.svg"] for name in names}


STEPS = {
    "plot_token_attributions": (
        ("token_attributions", "predictions"),
        lambda d: {"start": d / "start.html", "end": d / "end.html"},
    ),
    "top5_tables": (
        ("token_attributions",),
        lambda d: {f"{t}_{ext}": d / f"top5_{t}.{ext}" for t in ("start", "end") for ext in ("html", "csv")},
    ),
    "plot_conductance_heatmaps": (("token_attributions",), lambda d: figure_outputs(d, "start", "end")),
    "plot_token_boxplots": (("token_distributions",), lambda d: figure_outputs(d, "start", "end")),
    "plot_attribution_density": (
        ("token_distributions", "layer_summary"),
        lambda d: figure_outputs(d, "density_start", "density_end", "entropy_start", "entropy_end"),
    ),
}


def run(script: str, tables: dict[str, Path], directory: Path, example: str = EXAMPLE) -> dict:
    inputs, outputs = STEPS[script]
    output = outputs(directory)
    smk = SimpleNamespace(
        input=SimpleNamespace(**{name: str(tables[name]) for name in inputs}),
        output=SimpleNamespace(**output),
        params=SimpleNamespace(model="tiny-bert", n_steps=7),
        wildcards=SimpleNamespace(example=example),
        log=[],
    )
    importlib.import_module(script).main(smk)
    return output


def flat(output: dict) -> list[Path]:
    return [path for value in output.values() for path in (value if isinstance(value, list) else [value])]


@pytest.mark.parametrize("script", STEPS)
def test_writes_exactly_its_outputs(script, tables, tmp_path):
    output = run(script, tables, tmp_path)
    paths = flat(output)
    assert sorted(tmp_path.iterdir()) == sorted(paths), "only the declared outputs, no leftovers"
    for path in paths:
        data = path.read_bytes()
        assert data, path
        if path.suffix == ".png":
            assert data.startswith(PNG_SIGNATURE), path
        elif path.suffix == ".svg":
            assert ElementTree.fromstring(data).tag.endswith("svg"), path
        elif path.suffix == ".html":
            text = data.decode("utf-8")
            assert text.startswith("<!DOCTYPE html>") and '<meta charset="utf-8">' in text
            assert "model: tiny-bert · n_steps: 7 · example: ex" in text


@pytest.mark.parametrize("script", STEPS)
def test_unknown_example_is_a_user_error(script, tables, tmp_path):
    with pytest.raises(BertscopeError, match="'missing'"):
        run(script, tables, tmp_path, example="missing")
    assert not any(tmp_path.iterdir())


def test_heatmap_has_one_row_per_layer(tables):
    from plot_conductance_heatmaps import heatmap

    frame = pd.read_parquet(tables["token_attributions"], filters=[("source", "==", "layer")])
    fig = heatmap(frame, "end")
    ax = fig.axes[0]
    assert [label.get_text() for label in ax.get_yticklabels()] == [str(layer) for layer in range(1, LAYERS + 1)]
    assert [label.get_text() for label in ax.get_xticklabels()] == TOKENS
    assert (ax.get_ylabel(), ax.get_xlabel(), ax.get_title()) == ("Layers", "Tokens", "Layer conductance, end position")


def test_top5_token_type_column_shows_token_type_values(tables, tmp_path):
    output = run("top5_tables", tables, tmp_path)
    for row, (target, values) in enumerate([("start", TOKEN_TYPE[0]), ("end", TOKEN_TYPE[1])]):
        with open(output[f"{target}_csv"], newline="") as handle:
            records = list(csv.DictReader(handle))
        order = np.argsort(-values, kind="stable")[:5]
        expected = [f"{TOKENS[i]} ({i}), {round(float(values[i]), 2)}" for i in order]
        assert [record["Token Type(Index), Attribution"] for record in records] == expected
        word_order = np.argsort(-WORD[row], kind="stable")[:5]
        assert [record["Word(Index), Attribution"] for record in records] == [
            f"{TOKENS[i]} ({i}), {round(float(WORD[row][i]), 2)}" for i in word_order
        ]
        assert "Top 5 attributed embeddings for " + target + " position" in output[f"{target}_html"].read_text()


def test_word_importance_page(tables, tmp_path):
    output = run("plot_token_attributions", tables, tmp_path)
    text = output["start"].read_text()
    for token in TOKENS:
        assert f"> {html.escape(token)} </mark>" in text
    assert "<b>&" not in text
    assert "hsl(120, 75%, 70%)" in text  # 0.6 → 100 - int(50 * 0.6)
    assert "hsl(0, 75%, 80%)" in text  # -0.5 → 100 - int(40 * 0.5)
    for header in ("True Label", "Predicted Label", "Attribution Label", "Attribution Score", "Word Importance"):
        assert f"<th>{header}</th>" in text
    assert "5 (0.81)" in text and f"{EMBEDDINGS[0].sum():.2f}" in text and "0.0123" in text
    assert "What &lt;b&gt;&amp; ?" in text and "It kinds" in text
    assert "6 (0.46)" in output["end"].read_text()
