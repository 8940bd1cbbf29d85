"""The explained token's attribution mass function per layer, and its total attribution and entropy per layer."""

import numpy as np
import pandas as pd
from matplotlib import colormaps

from bertscope import TARGETS
from bertscope.figures import add_footer, explained_token, footer_text, new_figure, read_example, save_figure
from bertscope.step import run_step
from bertscope.tables import DENSITY_BINS, attribution_pmf


def density(distributions: pd.DataFrame, target: str):
    """One line per layer: the tutorial's 100-bin histogram density normalised to a mass function, by bin index."""
    rows = distributions[distributions["target"] == target].sort_values(["layer", "dim"])
    token, index = explained_token(rows)
    layers = sorted(rows["layer"].unique())
    colours = colormaps["viridis"](np.linspace(0, 0.9, len(layers)))
    fig, ax = new_figure(9.0, 4.5)
    for layer, colour in zip(layers, colours, strict=True):
        values = rows.loc[rows["layer"] == layer, "attribution"].to_numpy(float)
        ax.plot(np.arange(DENSITY_BINS), attribution_pmf(values), color=colour, linewidth=1.2, label=f"Layer {layer}")
    ax.set(
        xlabel="Bins",
        ylabel="Density",
        xlim=(0, DENSITY_BINS - 1),
        title=f"Attribution mass function of token '{token}' ({index}) per layer, {target} position",
    )
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, ncols=1 + len(layers) // 13)
    return fig


def entropy(summary: pd.DataFrame, token: str, index: int, target: str):
    """Total attribution per layer; marker area is entropy × 100, as in the tutorial, and each is labelled."""
    rows = summary[summary["target"] == target].sort_values("layer")
    layers = rows["layer"].to_numpy(int)
    totals, entropies = rows["total_attribution"].to_numpy(float), rows["entropy"].to_numpy(float)
    sizes = entropies * 100
    fig, ax = new_figure(max(6.0, 0.55 * len(layers) + 2.5), 4.5)
    ax.scatter(layers, totals, s=sizes, color="#4c72b0", alpha=0.7, edgecolor="white", linewidth=0.6)
    for layer, total, bits, size in zip(layers, totals, entropies, sizes, strict=True):
        ax.annotate(
            f"{bits:.2f}",
            (layer, total),
            xytext=(0, np.sqrt(size) / 2 + 3),
            textcoords="offset points",
            ha="center",
            va="bottom",
            fontsize=8,
        )
    ax.set_xticks(layers)
    ax.margins(x=0.08, y=0.25)
    ax.set(
        xlabel="Layers",
        ylabel="Total attribution",
        title=f"Total attribution of token '{token}' ({index}) per layer, {target} position\n"
        "(marker size and label: entropy in bits)",
    )
    return fig


def main(smk):
    example = smk.wildcards.example
    distributions = read_example(smk.input.token_distributions, example)
    summary = read_example(smk.input.layer_summary, example)
    footer = footer_text(smk)
    for target in TARGETS:
        token, index = explained_token(distributions[distributions["target"] == target])
        for name, fig in (
            ("density", density(distributions, target)),
            ("entropy", entropy(summary, token, index, target)),
        ):
            add_footer(fig, footer)
            save_figure(fig, getattr(smk.output, f"{name}_{target}"))


if __name__ == "__main__":
    run_step(main, globals())
