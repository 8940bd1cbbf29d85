"""Rank correlations in numpy: Kendall's τ-b and Spearman's ρ.

scipy.stats has both, but scipy 1.18.1 (the pin asked for) needs Python 3.12 and bertscope runs on 3.11; these are
the textbook definitions (ties counted as scipy counts them: τ-b, and ρ on average ranks), tested against values
worked by hand.
"""

from __future__ import annotations

import numpy as np


def average_ranks(values: np.ndarray) -> np.ndarray:
    """Ranks 1..n of ``values`` (n,), ties sharing the mean of their ranks.

    Args:
        values: (n,) numbers.

    Returns:
        (n,) float64 ranks.
    """
    values = np.asarray(values, dtype=np.float64)
    order = np.argsort(values, kind="stable")
    ranks = np.empty(len(values), dtype=np.float64)
    ranks[order] = np.arange(1, len(values) + 1)
    unique, inverse = np.unique(values, return_inverse=True)
    sums = np.bincount(inverse, weights=ranks, minlength=len(unique))
    counts = np.bincount(inverse, minlength=len(unique))
    return (sums / counts)[inverse]


def spearman(first: np.ndarray, second: np.ndarray) -> float:
    """Spearman's ρ: the Pearson correlation of the average ranks; NaN when either side is constant.

    Args:
        first: (n,) numbers.
        second: (n,) numbers.

    Returns:
        ρ in [-1, 1], or NaN.
    """
    a, b = average_ranks(first), average_ranks(second)
    a, b = a - a.mean(), b - b.mean()
    scale = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / scale) if scale > 0 else float("nan")


def kendall_tau(first: np.ndarray, second: np.ndarray) -> float:
    """Kendall's τ-b (ties in either variable corrected for); NaN when either side is constant.

    O(n²) pairs in memory: n is an example's token count (at most the model's 512 positions).

    Args:
        first: (n,) numbers.
        second: (n,) numbers.

    Returns:
        τ-b in [-1, 1], or NaN.
    """
    a, b = np.asarray(first, dtype=np.float64), np.asarray(second, dtype=np.float64)
    upper = np.triu_indices(len(a), k=1)
    sign_a = np.sign(a[:, None] - a[None, :])[upper]
    sign_b = np.sign(b[:, None] - b[None, :])[upper]
    scale = np.sqrt(np.count_nonzero(sign_a) * np.count_nonzero(sign_b))
    return float((sign_a * sign_b).sum() / scale) if scale > 0 else float("nan")
