"""HTML previews of the Parquet tables, for the Snakemake report (which cannot show Parquet)."""

import html
from pathlib import Path

import pandas as pd

from bertscope.figures import html_page, write_text
from bertscope.step import run_step


def preview(table_path: str, max_rows: int, footer: str) -> str:
    frame = pd.read_parquet(table_path)
    name = Path(table_path).name
    shown = frame.head(max_rows)
    note = (
        f"All {len(frame)} rows." if len(frame) <= max_rows else f"The first {max_rows} of {len(frame)} rows."
    ) + f" The whole table: results/tables/{name}."
    body = f"<h1>{html.escape(name)}</h1>\n<p>{html.escape(note)}</p>\n" + shown.to_html(
        index=False, float_format=lambda value: f"{value:.6g}", na_rep="", border=0
    )
    return html_page(name, body, footer)


def main(smk):
    footer = f"model: {smk.params.model} · n_steps: {smk.params.n_steps}"
    for table_path, preview_path in zip(smk.input.tables, smk.output.previews, strict=True):
        write_text(preview_path, preview(table_path, smk.params.max_rows, footer))


if __name__ == "__main__":
    run_step(main, globals())
