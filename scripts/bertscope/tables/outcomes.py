"""Attributions compared across the data set by outcome: where the |attribution| goes when the model is right, wrong,
or abstains, on answerable and unanswerable questions.

For every example, target, source and layer of ``token_attributions``, the share of the summed |attribution| that
falls on each :data:`REGIONS`: the question's tokens, the context's, the scored predicted span's
(``span_start..span_end``) and the gold span's (``true_start..true_end``). The null answer, predicted or gold, is
``[CLS]`` (token 0): its logits are where the model reads it. The shares of an example do not sum to 1: the regions
overlap (spans lie in the context) and ``[CLS]``/``[SEP]`` belong to none but the null spans.

Examples are grouped by ``has_answer`` and ``outcome`` (:data:`bertscope.evaluation.squad.OUTCOMES`); a group's
share is the mean over its examples, its delta the group's mean minus the mean over every example. The token-level
table is read one part (batch) at a time. Each question counts once, at its prediction's window: the other windows'
units of ``explain_windows: all`` (:func:`other_window_units`) are left out.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from bertscope.data.windows import window_unit
from bertscope.evaluation.squad import OUTCOMES
from bertscope.tables.summary import _table_error, dataset_parts

REGIONS = ("question", "context", "predicted span", "gold span")
"""The parts of an input whose share of the |attribution| is compared."""

SPAN_COLUMNS = ["example", "has_answer", "outcome", "span_start", "span_end", "true_start", "true_end", "window"]
"""The ``predictions`` columns the comparison reads."""

TOKEN_COLUMNS = ["example", "target", "source", "layer", "token_index", "token", "attribution"]

KEYS = ["example", "target", "source", "layer"]

GROUP_ORDER = [(answerable, outcome) for answerable in (True, False) for outcome in OUTCOMES]
"""The groups in the order tables and figures list them: answerable first, then by outcome."""


def _layouts(rows: pd.DataFrame) -> pd.DataFrame:
    """Per example: its token count and the index of its first separator (the first token after ``[CLS]`` that
    reads like the final one)."""
    tokens = rows.drop_duplicates(["example", "token_index"])[["example", "token_index", "token"]]
    count = tokens.groupby("example", sort=False)["token_index"].max().rename("count") + 1
    tokens = tokens.join(count, on="example")
    last = tokens.loc[tokens["token_index"] == tokens["count"] - 1].set_index("example")["token"].rename("separator")
    tokens = tokens.join(last, on="example")
    inner = (tokens["token"] == tokens["separator"]) & tokens["token_index"].between(1, tokens["count"] - 2)
    first_sep = tokens.loc[inner].groupby("example", sort=False)["token_index"].min().rename("first_sep")
    layouts = pd.concat([count, first_sep], axis=1)
    if layouts["first_sep"].isna().any():
        missing = layouts.index[layouts["first_sep"].isna()][0]
        raise _table_error("token_attributions", f"example '{missing}' is not '[CLS] question [SEP] context [SEP]'")
    return layouts.astype(int)


def region_shares(rows: pd.DataFrame, spans: pd.DataFrame) -> pd.DataFrame:
    """Each example's share of |attribution| per region.

    Args:
        rows: ``token_attributions`` rows (:data:`TOKEN_COLUMNS`).
        spans: ``predictions`` rows (:data:`SPAN_COLUMNS`), one per example.

    Returns:
        Columns example, target, source, layer, region (one of :data:`REGIONS`), share (in [0, 1]; NaN when an
        attribution is 0 everywhere).
    """
    missing = set(rows["example"]) - set(spans["example"])
    if missing:
        raise _table_error("predictions", f"no row for example '{sorted(missing)[0]}'")
    layout = _layouts(rows).join(spans.set_index("example")[["span_start", "span_end", "true_start", "true_end"]])
    frame = rows[[*KEYS, "token_index"]].join(layout, on="example")
    index = frame["token_index"]
    magnitude = rows["attribution"].abs()
    masks = {
        "question": index.between(1, frame["first_sep"] - 1),
        "context": index.between(frame["first_sep"] + 1, frame["count"] - 2),
        "predicted span": index.between(frame["span_start"], frame["span_end"]),
        "gold span": index.between(frame["true_start"], frame["true_end"]),
    }
    sums = pd.DataFrame({region: magnitude.where(mask, 0.0) for region, mask in masks.items()})
    sums["total"] = magnitude
    sums[KEYS] = rows[KEYS]
    totals = sums.groupby(KEYS, sort=False, dropna=False).sum()
    shares = totals[list(REGIONS)].div(totals["total"].where(totals["total"] > 0), axis=0)
    shares = shares.reset_index().melt(id_vars=KEYS, var_name="region", value_name="share")
    return shares.astype({"layer": "Int64", "share": "float64"})


def other_window_units(predictions: pd.DataFrame) -> set[str]:
    """The units of ``predictions`` that are another window of an example (``explain_windows: all``), not an example's
    own: each id that is :func:`~bertscope.data.windows.window_unit` of an example of the table and its row's window.

    Args:
        predictions: ``predictions`` rows (example, window).

    Returns:
        Those units' ids (none unless some example was explained in every window).
    """
    ids = set(predictions["example"])
    others = set()
    for unit, window in zip(predictions["example"], predictions["window"], strict=True):
        suffix = window_unit("", int(window))
        if unit.endswith(suffix) and unit[: -len(suffix)] in ids:
            others.add(unit)
    return others


def region_shares_of_dataset(dataset: str | Path, spans: pd.DataFrame, skipped: set[str] = frozenset()) -> pd.DataFrame:
    """:func:`region_shares` over a ``token_attributions`` dataset, read one part at a time, the units ``skipped``
    (:func:`other_window_units`) left out."""
    filters = [("example", "not in", sorted(skipped))] if skipped else None
    return pd.concat(
        [
            region_shares(pd.read_parquet(part, columns=TOKEN_COLUMNS, filters=filters), spans)
            for part in dataset_parts(dataset)
        ],
        ignore_index=True,
    )


def outcome_shares(shares: pd.DataFrame, spans: pd.DataFrame) -> pd.DataFrame:
    """The mean share per group, with the group's delta from the mean over every example.

    Args:
        shares: :func:`region_shares` rows.
        spans: ``predictions`` rows with has_answer and outcome, one per example.

    Returns:
        Columns has_answer, outcome, target, source, layer, region, examples (the group's), share (its mean),
        delta (its mean minus every example's mean), in :data:`GROUP_ORDER`.
    """
    labelled = shares.merge(spans[["example", "has_answer", "outcome"]], on="example", validate="many_to_one")
    keys = ["target", "source", "layer", "region"]
    grouped = labelled.groupby(["has_answer", "outcome", *keys], dropna=False)
    table = grouped["share"].mean().rename("share").to_frame()
    table["examples"] = grouped["example"].nunique()
    table = table.reset_index()
    pooled = labelled.groupby(keys, dropna=False)["share"].mean().rename("pooled")
    table = table.join(pooled, on=keys)
    table["delta"] = table["share"] - table.pop("pooled")
    order = {group: rank for rank, group in enumerate(GROUP_ORDER)}
    table["rank"] = [order[(bool(a), o)] for a, o in zip(table["has_answer"], table["outcome"], strict=True)]
    table = table.sort_values(["rank", "target", "source", "layer", "region"], na_position="first")
    columns = ["has_answer", "outcome", *keys, "examples", "share", "delta"]
    return table[columns].reset_index(drop=True).astype({"layer": "Int64", "examples": "int64"})


def group_label(has_answer: bool, outcome: str, examples: int) -> str:
    """A group's name in tables and legends, e.g. ``answerable, correct (n = 12)``."""
    return f"{'answerable' if has_answer else 'unanswerable'}, {outcome} (n = {examples})"
