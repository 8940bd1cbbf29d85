"""The numbers the docs quote from the demo model (docs/demo-model.md) equal a run on the shipped model: the top-5
sub-embedding table for the end position and the embedding LIG's convergence deltas and output differences.

The shipped weights are the same on every machine (models/demo, sha256-checked), and the quoted precision (two
decimals, or two significant digits) is far coarser than the float differences between processors."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import torch
import yaml
from conftest import shared_run

from bertscope import SUBEMBEDDINGS
from bertscope.attribution.part1 import embedding_lig, subembedding_lig
from bertscope.attribution.stored import token_sums
from bertscope.data.qa_inputs import encode_example
from bertscope.figures.examples import COLUMNS, top_table
from bertscope.models.demo_files import DEMO_DIR
from bertscope.models.forward import forward_from_ids
from bertscope.models.loading import load_model, load_tokenizer
from bertscope.tables.part1 import summarize, token_rows

REPO = Path(__file__).resolve().parent.parent
DOC = REPO / "docs" / "demo-model.md"


@shared_run
def run():
    """The default config's example on the shipped demo model, as `make run` computes it."""
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    example = config["examples"]["tutorial"]
    model = load_model(DEMO_DIR, torch.device("cpu"))
    encoded = encode_example(load_tokenizer(DEMO_DIR), "tutorial", example, 512, procedure=config["procedure"])
    tensors = encoded.tensors
    _, delta = embedding_lig(model, tensors, config["n_steps"])
    attributions, _ = subembedding_lig(model, tensors, config["n_steps"])
    forward = forward_from_ids(model)
    arguments = (tensors["token_type_ids"], tensors["position_ids"], tensors["attention_mask"])
    with torch.no_grad():
        difference = (forward(tensors["input_ids"], *arguments) - forward(tensors["ref_input_ids"], *arguments))[0]
    tokens = encoded.tokens
    by_source = {
        source: token_rows("tutorial", source, None, tokens, summarize(token_sums(attributions[source].numpy())))
        for source in SUBEMBEDDINGS
    }
    return {"top5_end": top_table(by_source, "end"), "delta": delta.tolist(), "difference": difference.tolist()}


def quoted_top5() -> pd.DataFrame:
    text = DOC.read_text()
    header = "| " + " | ".join(COLUMNS.values()) + " |"
    assert header in text, "docs/demo-model.md lost its top-5 table"
    lines = text[text.index(header) :].splitlines()[2:]
    rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in lines if line.startswith("|")]
    return pd.DataFrame(rows, columns=list(COLUMNS.values()))


def test_the_quoted_top5_table_is_what_the_shipped_model_gives(run):
    quoted = quoted_top5()
    assert len(quoted) == 5
    pd.testing.assert_frame_equal(quoted, run["top5_end"].reset_index(drop=True))


def test_the_quoted_convergence_deltas_and_output_differences_are_the_shipped_models(run):
    text = " ".join(DOC.read_text().split())
    match = re.search(
        r"\(\+?(-?[\d.]+) and \+?(-?[\d.]+) on the embeddings, against output differences of about (\d+) and (\d+)",
        text,
    )
    assert match, "docs/demo-model.md lost its sentence on the convergence deltas"
    start_delta, end_delta, start_difference, end_difference = map(float, match.groups())
    assert [start_delta, end_delta] == [round(value, 1) for value in run["delta"]]
    assert [start_difference, end_difference] == [round(value) for value in run["difference"]]
