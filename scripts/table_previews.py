"""HTML previews of the Parquet tables, for the Snakemake report (which cannot show Parquet)."""

import html
import json
from pathlib import Path

from bertscope.figures.pages import html_page, write_text
from bertscope.pipeline.step import run_step


def preview(table: str, dataset: str, rows: int, max_rows: int, footer: str) -> str:
    import pyarrow.dataset as ds

    shown = ds.dataset(dataset, format="parquet").head(max_rows).to_pandas()
    note = (f"All {rows} rows." if rows <= max_rows else f"The first {max_rows} of {rows} rows.") + (
        f" The whole table: the dataset {dataset}/ (pandas.read_parquet reads it as one table)."
    )
    body = f"<h1>{html.escape(table)}</h1>\n<p>{html.escape(note)}</p>\n" + shown.to_html(
        index=False, float_format=lambda value: f"{value:.6g}", na_rep="", border=0
    )
    return html_page(table, body, footer)


def main(smk):
    manifest = json.loads(Path(smk.input.manifest).read_text(encoding="utf-8"))
    footer = f"model: {smk.params.model} · n_steps: {smk.params.n_steps} · procedure: {smk.params.procedure}"
    footer += f" · target: {smk.params.target}"
    for table, preview_path in zip(smk.params.tables, smk.output.previews, strict=True):
        entry = manifest[table]
        write_text(preview_path, preview(table, entry["dataset"], entry["rows"], smk.params.max_rows, footer))


if __name__ == "__main__":
    run_step(main, globals())
