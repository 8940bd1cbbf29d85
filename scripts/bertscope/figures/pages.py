"""The HTML pages and text files the figure and preview steps write: no matplotlib, so that the table previews
start without it."""

from __future__ import annotations

import html
import os

from bertscope.pipeline.step import atomic_output

PAGE_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 2em; color: #222; }
h1 { font-size: 1.3em; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { padding: 0.35em 0.8em; text-align: left; vertical-align: top; }
th { border-bottom: 2px solid #444; }
caption { font-weight: bold; text-align: left; padding-bottom: 0.5em; }
footer { margin-top: 2em; font-size: 0.85em; color: #666; }
"""


def html_page(title: str, body: str, footer: str, css: str = "") -> str:
    """A standalone HTML5 document.

    Args:
        title: plain text (escaped).
        body: markup.
        footer: plain text (escaped).
        css: style rules added to the house's.

    Returns:
        The document.
    """
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{html.escape(title)}</title>\n"
        f"<style>{PAGE_CSS}{css}</style>\n"
        "</head>\n<body>\n"
        f"{body}\n"
        f"<footer>{html.escape(footer)}</footer>\n"
        "</body>\n</html>\n"
    )


def write_text(path: str | os.PathLike, text: str) -> None:
    """Write a UTF-8 text file atomically.

    Args:
        path: the file.
        text: its content.
    """
    with atomic_output(path) as staging:
        staging.write_text(text, encoding="utf-8")
