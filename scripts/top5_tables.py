"""Top 5 attributed tokens of the word, token type and position embeddings, per target, as CSV and HTML.

The tutorial prints the word embedding values next to the token type tokens; this step prints the token type values.
"""

import html

import pandas as pd

from bertscope import TARGETS
from bertscope.figures import footer_text, html_page, read_example, write_text
from bertscope.step import run_step

TOP_K = 5
COLUMNS = {
    "word": "Word(Index), Attribution",
    "token_type": "Token Type(Index), Attribution",
    "position": "Position(Index), Attribution",
}

CSS = """
th, td { border: 1px solid #ccc; font-variant-numeric: tabular-nums; }
tr:nth-child(even) td { background: #f5f5f5; }
"""


def top_cells(rows: pd.DataFrame, k: int = TOP_K) -> list[str]:
    """The ``k`` highest attributed tokens as "token (index), value", highest first, ties in token order."""
    top = rows.sort_values("token_index").sort_values("attribution", ascending=False, kind="stable").head(k)
    return [
        f"{token} ({index}), {round(float(value), 2)}"
        for token, index, value in top[["token", "token_index", "attribution"]].itertuples(index=False)
    ]


def top_table(by_source: dict[str, pd.DataFrame], target: str) -> pd.DataFrame:
    """The tutorial's table for one target: one column per sub-embedding, each from that sub-embedding's rows."""
    columns = {}
    for source, column in COLUMNS.items():
        rows = by_source[source]
        columns[column] = top_cells(rows[rows["target"] == target])
    return pd.DataFrame(columns)


def table_page(table: pd.DataFrame, target: str, footer: str) -> str:
    caption = f"Top 5 attributed embeddings for {target} position"
    head = "".join(f"<th>{html.escape(column)}</th>" for column in table.columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row) + "</tr>\n"
        for row in table.itertuples(index=False)
    )
    markup = f"<table>\n<caption>{html.escape(caption)}</caption>\n<tr>{head}</tr>\n{body}</table>"
    return html_page(caption, markup, footer, CSS)


def main(smk):
    by_source = {
        source: read_example(smk.input.token_attributions, smk.wildcards.example, source=source) for source in COLUMNS
    }
    for target in TARGETS:
        table = top_table(by_source, target)
        write_text(getattr(smk.output, f"{target}_csv"), table.to_csv(index=False))
        write_text(getattr(smk.output, f"{target}_html"), table_page(table, target, footer_text(smk)))


if __name__ == "__main__":
    run_step(main, globals())
