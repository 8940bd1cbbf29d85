"""The faithfulness tables' rows (schemas in :mod:`bertscope.tables.schemas`) from
:func:`bertscope.evaluation.faithfulness.evaluate_example`'s records."""

from __future__ import annotations

import pandas as pd

MEASURES = ("comprehensiveness", "sufficiency")
"""The ``measure`` of the curves' and AOPC's rows (the figures import it from here: no torch)."""
RANDOM_SOURCE = "random"
"""The ``source`` of the random baseline's rows."""
TABLE_OF_RESULT = {"curves": "faithfulness_curves", "aopc": "faithfulness_aopc", "loo": "loo_agreement"}
"""Which table each part of an example's result fills."""


def faithfulness_frames(result: dict[str, list[dict]]) -> dict[str, pd.DataFrame]:
    """``{table: rows}`` of one example's result (columns and dtypes are set when the part is written)."""
    return {table: pd.DataFrame(result[part]) for part, table in TABLE_OF_RESULT.items()}
