"""How the Snakefile plans the DAG: batches of examples, layer groups, the examples that get figures. No torch, so
that planning stays fast."""

from __future__ import annotations

import hashlib

from bertscope import BertscopeError
from bertscope.data.windows import window_unit
from bertscope.pipeline.names import example_file_name

ALL_LAYERS = "layers_all"


def layer_groups(num_layers: int, layers_per_job) -> dict[str, list[int]]:
    """The conductance jobs' groups of encoder layers, by name: 1-based layer numbers, ``layers_per_job`` a time.

    A group is named after its first and last layer (``layers_01-04``); the one group of ``all`` is ``layers_all`` (a
    name known before the model is: see :func:`shares_one_pass`).

    Args:
        num_layers: the model's encoder depth.
        layers_per_job: N or ``all``.

    Returns:
        ``{group name: [layers]}`` in layer order.
    """
    if layers_per_job == "all":
        return {ALL_LAYERS: list(range(1, num_layers + 1))}
    size = int(layers_per_job)
    groups = {}
    for first in range(1, num_layers + 1, size):
        last = min(first + size - 1, num_layers)
        groups[f"layers_{first:02d}-{last:02d}"] = list(range(first, last + 1))
    return groups


def chosen_attention_layer(attention_layer, num_layers: int) -> int:
    """``attention_layer`` as a layer number of a model with ``num_layers`` encoder layers.

    Args:
        attention_layer: the setting: a 1-based layer or ``last``.
        num_layers: the model's encoder depth.

    Returns:
        The layer, from 1.

    Raises:
        BertscopeError: the layer is deeper than the model, naming the field and the fix.
    """
    layer = num_layers if attention_layer == "last" else int(attention_layer)
    if layer > num_layers:
        raise BertscopeError(
            f"config field 'attention_layer': {layer}, but the model has {num_layers} encoder layers. "
            f"Fix: give a layer from 1 to {num_layers}, or last"
        )
    return layer


def shares_one_pass(procedure: str, layers_per_job) -> bool:
    """Whether embedding LIG and conductance come from one pass: ``corrected`` with every layer in one job.

    Args:
        procedure: ``tutorial`` or ``corrected``.
        layers_per_job: N or ``all``.

    Returns:
        True when the ``path_attribution`` rule replaces ``embedding_lig`` and ``layer_conductance``.
    """
    return procedure == "corrected" and layers_per_job == "all"


def _closes_batch(example_id: str, modulus: int) -> bool:
    """Whether ``example_id`` may end a batch: true for one id in ``modulus``, decided by the id alone."""
    digest = hashlib.blake2b(example_id.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % modulus == 0


def batch_size_rule(examples_per_job: int) -> tuple[int, int, int]:
    """The content-defined batching's three numbers for ``examples_per_job`` e: the fewest members before a batch
    may end, ``m = ceil(e / 2)``; the modulus ``q = e - m + 1`` of the ids that end it from then on; the cap ``3 e``.

    A batch so holds ``m - 1`` members and then a geometric number of mean ``q`` (up to the first id that ends it):
    ``m - 1 + q = e`` on average, by construction (the cap, 2.5 e past the minimum, cuts the mean by about 0.3 %).

    Args:
        examples_per_job: the config's ``examples_per_job``, at least 1.

    Returns:
        ``(minimum, modulus, cap)``; for 1, ``(1, 1, 3)``: every id ends its batch.
    """
    minimum = -(-examples_per_job // 2)
    return minimum, examples_per_job - minimum + 1, 3 * examples_per_job


def example_batches(example_ids: list[str], examples_per_job: int) -> dict[str, list[str]]:
    """The batches of examples that one job of each per-batch step handles together, in run order.

    Boundaries are content-defined, with the standard minimum-size rule (:func:`batch_size_rule`): a batch ends
    after an example whose id hashes to 0 modulo ``q = e - ceil(e/2) + 1`` once it holds at least ``ceil(e/2)``
    examples, or once it holds ``3 e`` (``e`` = ``examples_per_job``). Batches hold ``e`` examples on average by
    construction, between ``ceil(e/2)`` and ``3 e`` (the last one fewer), with a standard deviation of about ``e/2``;
    ``examples_per_job: 1`` is one example a batch. A batch's membership depends on its own ids and those of the
    batches just before it (the minimum and the cap count from the previous boundary), never on examples elsewhere in
    the file: inserting, removing or editing k examples changes about k batches (at most about 2k), wherever they
    are, as the boundaries fall back into step within a batch or two, and every other job stays done. A batch is
    named after the file names of its examples (:func:`~bertscope.pipeline.names.example_file_name`): the one alone,
    or ``first..last``; no file name holds '..', so no two batches share a name.

    Args:
        example_ids: every example id, in run order.
        examples_per_job: the config's ``examples_per_job``.

    Returns:
        The batches by name, each its example ids in run order.

    Raises:
        BertscopeError: two batches get the same name (two ids whose hashes agree), with the fix.
    """
    batches: dict[str, list[str]] = {}

    def close(members: list[str]) -> None:
        first, last = example_file_name(members[0]), example_file_name(members[-1])
        name = first if len(members) == 1 else f"{first}..{last}"
        if name in batches:  # only if 12 hex digits of two ids' sha256 agree: unique names are by construction
            raise BertscopeError(
                f"examples_per_job: the batches of {members[0]!r} and {batches[name][0]!r} get one name, '{name}'. "
                "Fix: rename one of those examples"
            )
        batches[name] = members

    minimum, modulus, cap = batch_size_rule(examples_per_job)
    members: list[str] = []
    for example in example_ids:
        members.append(example)
        if len(members) == cap or (len(members) >= minimum and _closes_batch(example, modulus)):
            close(members)
            members = []
    if members:
        close(members)
    return batches


def check_window_units(example_ids: list[str], explain_windows: str) -> None:
    """Refuse, with ``explain_windows: all``, an example whose id is that of another example's window unit
    (:func:`~bertscope.data.windows.window_unit`): the two would share a name in the tables.

    Args:
        example_ids: every example id of the run.
        explain_windows: the ``explain_windows`` setting.

    Raises:
        BertscopeError: such an id, naming the field and the fix.
    """
    if explain_windows != "all":
        return
    ids = set(example_ids)
    for unit in example_ids:
        base, marker, window = unit.rpartition("#window")
        if marker and window.isdigit() and base in ids and window_unit(base, int(window)) == unit:
            raise BertscopeError(
                f"config field 'explain_windows': with all, the windows of example {base!r} are named "
                f"'{base}#window<k>', and {unit!r} is the id of another example. "
                f"Fix: rename example {unit!r}, or set explain_windows: prediction"
            )


def figure_examples(selection, inline_ids: list[str], example_ids: list[str]) -> list[str]:
    """The examples whose own figures are drawn, in run order.

    Args:
        selection: ``figure_examples``: ``inline`` (the examples given in the config itself, none of examples_file's),
            ``all``, ``none``, N (the first N examples) or a list of example ids.
        inline_ids: the ids of the config's own examples.
        example_ids: every example of the run, in run order.

    Returns:
        The chosen ids, in run order.

    Raises:
        BertscopeError: the list names an id that no example has, naming the field and the fix.
    """
    if selection == "all":
        return list(example_ids)
    if selection == "none":
        return []
    if selection == "inline":
        inline = set(inline_ids)
        return [example for example in example_ids if example in inline]
    if isinstance(selection, int):
        return list(example_ids[:selection])
    known = set(example_ids)
    unknown = [example for example in selection if example not in known]
    if unknown:
        raise BertscopeError(
            f"config field 'figure_examples': no example has the id(s) {', '.join(map(repr, unknown))}. "
            "Fix: list ids of the run's examples, or use inline, all, none or a number (the first N examples)"
        )
    chosen = set(selection)
    return [example for example in example_ids if example in chosen]


def figure_batches(batches: dict[str, list[str]], chosen: list[str]) -> dict[str, list[str]]:
    """The batches that hold a chosen example, each with its chosen examples: one figure job per such batch.

    Args:
        batches: :func:`example_batches`' batches.
        chosen: :func:`figure_examples`' ids.

    Returns:
        ``{batch name: [chosen ids]}``, batches without a chosen example left out.
    """
    chosen_set = set(chosen)
    selected = {batch: [example for example in members if example in chosen_set] for batch, members in batches.items()}
    return {batch: members for batch, members in selected.items() if members}
