"""Box plots of the explained token's per-dimension conductance in every layer, for the start and end positions."""

import pandas as pd

from bertscope import TARGETS
from bertscope.figures import add_footer, explained_token, footer_text, new_figure, read_example, save_figure
from bertscope.step import run_step


def boxplot(distributions: pd.DataFrame, target: str):
    """One box per layer (1..N, from the data) of the conductance over the hidden dimensions."""
    rows = distributions[distributions["target"] == target].sort_values(["layer", "dim"])
    token, index = explained_token(rows)
    layers = sorted(rows["layer"].unique())
    fig, ax = new_figure(max(6.0, 0.55 * len(layers) + 2.5), 4.5)
    ax.axhline(0, color="0.6", linewidth=0.8, zorder=0)
    ax.boxplot(
        [rows.loc[rows["layer"] == layer, "attribution"].to_numpy(float) for layer in layers],
        tick_labels=[str(layer) for layer in layers],
        patch_artist=True,
        boxprops={"facecolor": "#9ebcda", "edgecolor": "0.25"},
        medianprops={"color": "0.1"},
        flierprops={"markersize": 3, "markerfacecolor": "0.4", "markeredgecolor": "none"},
    )
    ax.set(
        xlabel="Layers",
        ylabel="Attribution",
        title=f"Conductance of token '{token}' ({index}) per layer, {target} position",
    )
    return fig


def main(smk):
    distributions = read_example(smk.input.token_distributions, smk.wildcards.example)
    for target in TARGETS:
        fig = boxplot(distributions, target)
        add_footer(fig, footer_text(smk))
        save_figure(fig, getattr(smk.output, target))


if __name__ == "__main__":
    run_step(main, globals())
