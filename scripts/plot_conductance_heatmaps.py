"""Heatmaps of every layer's conductance summary over the tokens, for the start and end positions."""

import pandas as pd
import seaborn as sns

from bertscope import TARGETS
from bertscope.figures import add_footer, footer_text, new_figure, read_example, save_figure
from bertscope.step import run_step


def heatmap(attributions: pd.DataFrame, target: str):
    """Layers (1..N, from the data) by tokens, coloured by the summarised conductance on a scale centred at 0."""
    rows = attributions[attributions["target"] == target]
    grid = rows.pivot(index="layer", columns="token_index", values="attribution").sort_index().sort_index(axis=1)
    tokens = rows.drop_duplicates("token_index").set_index("token_index")["token"].astype(str)
    layers = [int(layer) for layer in grid.index]
    limit = float(abs(grid).max().max()) or 1.0
    fig, ax = new_figure(max(6.0, 0.3 * grid.shape[1] + 2.5), max(3.0, 0.35 * len(layers) + 2.2))
    sns.heatmap(
        grid.to_numpy(float),
        ax=ax,
        cmap="PiYG",
        center=0,
        vmin=-limit,
        vmax=limit,
        xticklabels=tokens[grid.columns].tolist(),
        yticklabels=layers,
        linewidths=0.2,
        cbar_kws={"label": "Attribution", "shrink": 0.9},
    )
    ax.tick_params(axis="x", labelrotation=90)
    ax.tick_params(axis="y", labelrotation=0)
    ax.set(xlabel="Tokens", ylabel="Layers", title=f"Layer conductance, {target} position")
    return fig


def main(smk):
    attributions = read_example(smk.input.token_attributions, smk.wildcards.example, source="layer")
    for target in TARGETS:
        fig = heatmap(attributions, target)
        add_footer(fig, footer_text(smk))
        save_figure(fig, getattr(smk.output, target))


if __name__ == "__main__":
    run_step(main, globals())
