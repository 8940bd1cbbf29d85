"""What the plotting steps share: the Agg backend and one style, reading one example, the footer, atomic saving.

Importing this module selects matplotlib's Agg backend and applies :data:`STYLE`, so every figure of the pipeline
looks alike and none needs a display.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, FuncFormatter
from matplotlib.transforms import ScaledTranslation

from bertscope import BertscopeError
from bertscope.pipeline.step import atomic_output

DPI = 150
"""Resolution of every PNG."""

STYLE = {
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "xtick.labelsize": 9,
    "ytick.labelsize": 9,
    "legend.fontsize": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "text.parse_math": False,  # tokens such as '$' are text, never mathtext
    "svg.hashsalt": "bertscope",  # SVG ids stay the same from run to run
}
plt.switch_backend("Agg")
plt.rcParams.update(STYLE)

_SAVE_OPTIONS = {
    ".png": {"format": "png", "dpi": DPI},
    ".svg": {"format": "svg", "metadata": {"Date": None}},
    ".pdf": {"format": "pdf", "metadata": {"CreationDate": None}},
}


def explained_token(frame: pd.DataFrame) -> tuple[str, int]:
    """The one token a ``token_distributions`` selection explains.

    Args:
        frame: ``token_distributions`` rows of one example (every row the same explained token).

    Returns:
        ``(token, token_index)``.
    """
    pairs = frame[["token", "token_index"]].drop_duplicates()
    if len(pairs) != 1:
        found = ", ".join(f"'{token}' ({index})" for token, index in pairs.itertuples(index=False))
        raise BertscopeError(f"expected one explained token, found {found}. Fix: rebuild token_distributions")
    token, index = pairs.iloc[0]
    return str(token), int(index)


MIN_BOX_POINTS = 5
"""A box summarises at least this many values; a group of fewer is drawn as its points."""

ROUND_LIMITS = (1.0, 1.2, 1.6, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0)
"""Colour scale limits, times a power of ten: each, and its half, reads as a short tick label."""

_SUBSCRIPT = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")
_SUPERSCRIPT = str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")


def token_label(token: str, index: int) -> str:
    """A token as figures label it, its index as a subscript (``to₁₄``), so that repeated tokens differ.

    Args:
        token: the token.
        index: its index in the input.

    Returns:
        The label.
    """
    return f"{token}{str(index).translate(_SUBSCRIPT)}"


def superscript(power: int) -> str:
    """10 to ``power`` as plain text (``10⁻³``): the style has no mathtext.

    Args:
        power: the exponent.

    Returns:
        ``10`` followed by the exponent in Unicode superscripts.
    """
    return "10" + str(power).translate(_SUPERSCRIPT)


def power_of_ten(value: float, _position=None) -> str:
    """A log-axis tick label: 0, or the power of ten ``value`` is, as :func:`superscript` writes it.

    Args:
        value: the tick's value (0 or a signed power of ten).
        _position: the tick's position (matplotlib's formatter argument, unused).

    Returns:
        The label (``0``, ``10⁻³``).
    """
    return "0" if value == 0 else superscript(round(np.log10(abs(value))))


def number_label(value: float) -> str:
    """A number in running text, three significant digits: ``0.0123``, ``4.56``, ``1.23 × 10⁻⁴``; never ``e-04``.

    Args:
        value: the number.

    Returns:
        The text.
    """
    if value == 0 or 1e-2 <= abs(value) < 999.5:
        return f"{value:.3g}"
    mantissa, exponent = f"{value:.2e}".split("e")
    return f"{mantissa} × {superscript(int(exponent))}"


def decade_axis(axis, low: float, high: float, zero: bool = False) -> None:
    """Tick and limit ``axis`` as a log (or, with ``zero``, symmetric log) axis over whole decades.

    It runs from the power of ten at or below ``low`` (or from 0) to the one at or above ``high``, with a tick labelled
    alike at 0 and at every power of ten. The caller sets the axis's scale.

    Args:
        axis: a matplotlib axis (``ax.xaxis`` or ``ax.yaxis``).
        low: the smallest magnitude to show, ``0 < low <= high``.
        high: the largest magnitude to show.
        zero: start at 0 (a symmetric log axis) instead of ``low``'s decade.
    """
    first, last = int(np.floor(np.log10(low))), int(np.ceil(np.log10(high)))
    ticks = [10.0**power for power in range(first, max(last, first + 1) + 1)]
    axis.set_major_locator(FixedLocator([0.0, *ticks] if zero else ticks))
    axis.set_major_formatter(FuncFormatter(power_of_ten))
    axis.set_minor_formatter(FuncFormatter(lambda *_: ""))
    axis.axes.set(**{f"{axis.axis_name}lim": (0.0 if zero else ticks[0], ticks[-1])})


def symmetric_scale(values: np.ndarray) -> tuple[float, list[float]]:
    """A colour scale centred at 0 that holds every value.

    Args:
        values: array of any shape.

    Returns:
        ``(limit, ticks)``: the largest |value| rounded up to one of :data:`ROUND_LIMITS` (1 where every value is 0),
        and five ticks from -limit to limit, ends included.
    """
    largest = float(np.nanmax(np.abs(values), initial=0.0))
    limit = 1.0
    if largest > 0:
        power = 10.0 ** np.floor(np.log10(largest))
        limit = next(round_limit * power for round_limit in ROUND_LIMITS if round_limit * power >= largest * 0.999999)
    return float(f"{limit:.6g}"), [float(f"{limit * share:.6g}") for share in (-1, -0.5, 0, 0.5, 1)]


def diverging_heatmap(ax: Axes, values: np.ndarray, limit: float, **options) -> None:
    """Draw a seaborn heatmap of signed values in the house's diverging colours, centred at 0, from -limit to limit.

    Args:
        ax: the axes to draw in.
        values: (rows, columns) array.
        limit: the colour scale's end (:func:`symmetric_scale`).
        **options: more keywords for :func:`seaborn.heatmap` (labels, colour bar).
    """
    import seaborn as sns

    sns.heatmap(values, ax=ax, cmap="PiYG", center=0, vmin=-limit, vmax=limit, linewidths=0.2, **options)


def draw_boxes(ax: Axes, groups: Sequence[np.ndarray], positions: Sequence[float], **style) -> list[int]:
    """Box plots of the groups of at least :data:`MIN_BOX_POINTS` values at their positions.

    Args:
        ax: the axes to draw in.
        groups: 1-D arrays of values, one per box.
        positions: each group's position on the axis.
        **style: more keywords for :meth:`matplotlib.axes.Axes.boxplot`.

    Returns:
        The indices of the groups too small for a box, whose points the caller draws instead.
    """
    boxed = [i for i, group in enumerate(groups) if len(group) >= MIN_BOX_POINTS]
    if boxed:
        ax.boxplot([groups[i] for i in boxed], positions=[positions[i] for i in boxed], manage_ticks=False, **style)
    return [i for i in range(len(groups)) if i not in boxed]


def figure_footer(model: str, n_steps: int, procedure: str, covers: str, target: str = "max_logit") -> str:
    """The line that closes every figure and page.

    Args:
        model: the model the numbers come from.
        n_steps: the attributions' path points.
        procedure: ``tutorial`` or ``corrected``.
        covers: what it covers (``example: tutorial``, ``examples: 120``).
        target: the explained quantity (the ``target`` setting).

    Returns:
        The footer text.
    """
    return f"model: {model} · n_steps: {n_steps} · procedure: {procedure} · target: {target} · {covers}"


def new_figure(width: float, height: float) -> tuple[Figure, plt.Axes]:
    """A figure with one axes, laid out so that labels, titles and legends never overlap.

    Args:
        width: in inches.
        height: in inches.

    Returns:
        ``(figure, axes)``.
    """
    return plt.subplots(figsize=(width, height), layout="constrained")


def add_footer(fig: Figure, text: str) -> None:
    """Put ``text`` centred just below everything else in ``fig``; saving with a tight box keeps it in.

    Args:
        fig: the figure.
        text: the footer (:func:`figure_footer`).
    """
    below = ScaledTranslation(0, -6 / 72, fig.dpi_scale_trans)
    fig.text(0.5, 0, text, ha="center", va="top", fontsize=8, color="0.4", transform=fig.transFigure + below)


def output_paths(paths: str | os.PathLike | Sequence) -> list[Path]:
    """One output path, or a list of them (a Snakemake named output given as a list), as a list.

    Args:
        paths: a path or a sequence of paths.

    Returns:
        The paths as :class:`~pathlib.Path`.
    """
    return [Path(paths)] if isinstance(paths, (str, os.PathLike)) else [Path(path) for path in paths]


def save_figure(fig: Figure, paths: str | os.PathLike | Sequence) -> None:
    """Save ``fig`` atomically to every path (png at :data:`DPI`, svg or pdf, by suffix), then close it.

    Args:
        fig: the figure.
        paths: one path or several (:func:`output_paths`), one per format.
    """
    try:
        targets = output_paths(paths)
        unknown = [str(path) for path in targets if path.suffix.lower() not in _SAVE_OPTIONS]
        if unknown:
            raise BertscopeError(
                f"cannot save a figure as {', '.join(unknown)}. Fix: end each figure path with "
                f"{', '.join(_SAVE_OPTIONS)}"
            )
        for path in targets:
            with atomic_output(path) as staging:
                fig.savefig(staging, bbox_inches="tight", pad_inches=0.1, **_SAVE_OPTIONS[path.suffix.lower()])
    finally:
        plt.close(fig)
