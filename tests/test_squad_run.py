"""End to end on a generated SQuAD v2 file read by the demo model: every question kept, long contexts in windows
(every window explained: ``explain_windows: all``), the predictions scored, and the comparisons by outcome drawn."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from conftest import dry_run_jobs, read_table, shared_run, snakemake, write_config

from bertscope.data.examples import gold_answers, load_examples_file
from bertscope.data.squad_demo import write_squad_demo
from bertscope.evaluation.squad import OUTCOMES, score_prediction, summary_scores
from bertscope.pipeline.tensor_io import BatchFile
from bertscope.tables.outcomes import REGIONS, other_window_units

pytestmark = pytest.mark.slow

QUESTIONS = 30


@shared_run
def squad_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("squad_run")
    write_squad_demo(workdir / "squad.json", QUESTIONS)
    write_config(
        workdir,
        model="demo",
        examples={},
        examples_file="squad.json",
        n_steps=4,
        attention=False,
        faithfulness=False,  # the scoring, the windows and the outcome summaries are tested here, not the evidence
        layers_per_job="all",
        examples_per_job=16,
        explain_windows="all",
        figure_examples="none",
        threads_per_job=1,
        figure_formats=["png", "svg"],
    )
    completed = snakemake(workdir, "--cores", "2", timeout=1800)
    assert completed.returncode == 0, completed.stderr[-5000:]
    return workdir


def own_predictions(run):
    """The predictions rows of the examples' own units (each question's prediction window)."""
    predictions = read_table(run, "predictions")
    return predictions[~predictions["example"].isin(other_window_units(predictions))]


def test_every_question_is_scored_as_squad_scores_it(squad_run):
    examples = load_examples_file(squad_run / "squad.json")
    predictions = own_predictions(squad_run).set_index("example")
    assert sorted(predictions.index) == sorted(examples)
    assert predictions["has_answer"].sum() == 20 and (~predictions["has_answer"]).sum() == 10
    for example_id, row in predictions.iterrows():
        assert (row["exact"], row["f1"]) == pytest.approx(
            score_prediction(gold_answers(examples[example_id]), row["span_answer"])
        )
        assert row["outcome"] in OUTCOMES
        if not row["has_answer"]:
            assert (row["true_start"], row["true_end"], row["answer"]) == (0, 0, "")
    scores = json.loads((squad_run / "results" / "scores.json").read_text())
    assert scores == pytest.approx(summary_scores(predictions["exact"], predictions["f1"], predictions["has_answer"]))
    assert (scores["total"], scores["HasAns_total"], scores["NoAns_total"]) == (30, 20, 10)


def test_long_contexts_are_read_in_windows(squad_run):
    examples = load_examples_file(squad_run / "squad.json")
    predictions = own_predictions(squad_run).set_index("example")
    long = predictions[predictions["window_count"] > 1]
    assert len(long) == 3 and (long["window"] < long["window_count"]).all()
    assert (predictions.loc[predictions["window_count"] == 1, "window"] == 0).all()
    for example_id, row in long.iterrows():
        context = examples[example_id]["context"]
        assert 0 <= row["context_char_begin"] < row["context_char_end"] <= len(context)
        if not pd.isna(row["span_char_begin"]):
            assert row["context_char_begin"] <= row["span_char_begin"] < row["span_char_end"] <= row["context_char_end"]
            assert context[row["span_char_begin"] : row["span_char_end"]] == row["span_answer"]
        tokens = read_table(squad_run, "token_attributions").query("example == @example_id")["token_index"]
        assert tokens.max() < 512


def test_explain_windows_all_attributes_and_tables_every_window(squad_run):
    examples = load_examples_file(squad_run / "squad.json")
    every = read_table(squad_run, "predictions")
    own = own_predictions(squad_run).set_index("example")
    long = own[own["window_count"] > 1]
    units = {unit: row for unit, row in every.set_index("example").iterrows() if unit not in own.index}
    expected = {f"{example}#window{k}" for example, row in long.iterrows() for k in range(row["window_count"])}
    assert set(units) == expected - {f"{example}#window{row['window']}" for example, row in long.iterrows()}
    records = {}
    for path in (squad_run / "results" / "inputs").glob("*.safetensors"):
        records.update(BatchFile(path).records)
    attributed = read_table(squad_run, "token_attributions").groupby("example")["token_index"].max() + 1
    for unit, row in units.items():
        example, window = unit.rsplit("#window", 1)
        context, record = examples[example]["context"], records[unit]
        assert (row["window"], row["window_count"]) == (int(window), long.at[example, "window_count"])
        assert row["outcome"] == long.at[example, "outcome"], "the example's scored answer, over every window"
        assert attributed[unit] == len(record["tokens"]) <= 512, "attributed, every token of its window"
        # Its token indices map back to the context: input token i covers context[token_offsets[i]].
        begin, end = record["context_char_span"]
        assert [begin, end] == [row["context_char_begin"], row["context_char_end"]]
        offsets = [offset for offset in record["token_offsets"] if offset is not None]
        assert offsets[0][0] == begin and offsets[-1][1] == end
        for token, offset in zip(record["tokens"], record["token_offsets"], strict=True):
            if offset is not None:
                assert context[offset[0] : offset[1]].lower() == token.removeprefix("##").lower()


def test_changing_explain_windows_reruns_the_inputs_and_what_follows_not_the_model(squad_run):
    planned = dry_run_jobs(squad_run, "--config", "explain_windows=prediction")
    batches = len(list((squad_run / "results" / "inputs").glob("*.safetensors")))
    assert "model" not in planned and planned["inputs"] == batches
    assert dry_run_jobs(squad_run) == {}, "the run itself is complete"


def test_the_outcome_summary_and_figures(squad_run):
    shares = pd.read_parquet(squad_run / "results" / "summaries" / "outcome_shares.parquet")
    predictions = own_predictions(squad_run)
    counts = predictions.groupby(["has_answer", "outcome"])["example"].nunique()
    found = shares.groupby(["has_answer", "outcome"])["examples"].max()
    assert found.to_dict() == counts.to_dict()
    assert set(shares["region"]) == set(REGIONS)
    assert set(shares["source"]) == {"embeddings", "word", "token_type", "position", "layer"}
    assert shares["share"].between(0, 1).all()
    for stem in ("outcome_shares_by_source", "outcome_shares_by_layer"):
        for fmt in ("png", "svg"):
            assert (squad_run / "results" / "figures" / "_summary" / f"{stem}.{fmt}").stat().st_size > 10_000
