"""Word importance pages for the start and end positions, in the look of captum's visualize_text."""

import html

import pandas as pd

from bertscope import TARGETS
from bertscope.figures import footer_text, html_page, read_example, write_text
from bertscope.step import run_step

LEGEND = (("Negative", -1.0), ("Neutral", 0.0), ("Positive", 1.0))

CSS = """
.legend { border-top: 1px solid; margin-top: 5px; padding-top: 5px; display: inline-block; }
.swatch { display: inline-block; width: 10px; height: 10px; border: 1px solid; }
td b { padding-right: 2em; }
mark { opacity: 1.0; line-height: 1.75; color: black; }
"""


def captum_color(attribution: float) -> str:
    """captum's colour for a token: green for positive, red for negative, white for zero; clipped to [-1, 1]."""
    attribution = max(-1.0, min(1.0, attribution))
    if attribution > 0:
        return f"hsl(120, 75%, {100 - int(50 * attribution)}%)"
    return f"hsl(0, 75%, {100 - int(-40 * attribution)}%)"


def question_text(tokens: list[str]) -> str | None:
    """The question as the model read it: the tokens between [CLS] and the first [SEP], word pieces joined."""
    if "[SEP]" not in tokens:
        return None
    return " ".join(tokens[1 : tokens.index("[SEP]")]).replace(" ##", "")


def page(attributions: pd.DataFrame, prediction: pd.Series, target: str, footer: str) -> str:
    """One target's page: question and answer, legend, captum's table row, convergence delta."""
    rows = attributions.sort_values("token_index")
    tokens, values = rows["token"].astype(str).tolist(), rows["attribution"].to_numpy(float)
    predicted = int(prediction[f"predicted_{target}"])
    marks = "".join(
        f'<mark style="background-color: {captum_color(value)}" title="{value:.3f}"> {html.escape(token)} </mark>'
        for token, value in zip(tokens, values, strict=True)
    )
    cells = (
        str(int(prediction[f"true_{target}"])),
        f"{predicted} ({prediction[f'{target}_prob']:.2f})",
        str(predicted),
        f"{values.sum():.2f}",
    )
    question = question_text(tokens)
    title = f"Word importance for the {target} position"
    body = [
        f"<h1>{html.escape(title)}</h1>",
        f"<p><b>Question:</b> {html.escape(question)}</p>" if question is not None else "",
        f"<p><b>Predicted answer:</b> {html.escape(str(prediction['predicted_answer']))}</p>",
        '<div class="legend"><b>Legend: </b>',
        *(
            f'<span class="swatch" style="background-color: {captum_color(value)}"></span> {label} '
            for label, value in LEGEND
        ),
        "</div>",
        '<table style="width: 100%">',
        "<tr><th>True Label</th><th>Predicted Label</th><th>Attribution Label</th><th>Attribution Score</th>"
        "<th>Word Importance</th></tr>",
        "<tr>" + "".join(f"<td><b>{cell}</b></td>" for cell in cells) + f"<td>{marks}</td></tr>",
        "</table>",
        f"<p>Convergence delta (embeddings, integrated gradients): {prediction[f'delta_{target}']:.4g}</p>",
    ]
    return html_page(title, "\n".join(part for part in body if part), footer, CSS)


def main(smk):
    example = smk.wildcards.example
    attributions = read_example(smk.input.token_attributions, example, source="embeddings")
    prediction = read_example(smk.input.predictions, example).iloc[0]
    for target in TARGETS:
        selected = attributions[attributions["target"] == target]
        write_text(getattr(smk.output, target), page(selected, prediction, target, footer_text(smk)))


if __name__ == "__main__":
    run_step(main, globals())
