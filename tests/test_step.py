"""Atomic outputs: nothing under the final name unless the step succeeds, and files colleagues can read."""

from __future__ import annotations

import os
import stat

import pytest
import torch

from bertscope.step import STAGING_SEPARATOR, atomic_output
from bertscope.tensor_io import load_tensors, save_tensors


@pytest.fixture()
def umask_022():
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_saved_tensors_are_readable_by_others_and_round_trip(tmp_path, umask_022):
    path = tmp_path / "x.safetensors"
    save_tensors(path, {"a": torch.arange(3.0)}, {"example": "ex"})
    tensors, record = load_tensors(path)
    assert torch.equal(tensors["a"], torch.arange(3.0)) and record == {"example": "ex"}
    assert mode(path) == 0o644


def test_directory_output_is_shared_recursively(tmp_path, umask_022):
    with atomic_output(tmp_path / "out", directory=True) as staging:
        (staging / "inner").mkdir()
        save_tensors(staging / "inner" / "t.safetensors", {"a": torch.zeros(1)}, {})
    assert mode(tmp_path / "out") == 0o755 and mode(tmp_path / "out" / "inner") == 0o755
    assert mode(tmp_path / "out" / "inner" / "t.safetensors") == 0o644


@pytest.mark.parametrize("directory", [False, True])
def test_failed_step_leaves_neither_output_nor_staging(tmp_path, directory):
    final = tmp_path / "result.txt"
    with pytest.raises(RuntimeError), atomic_output(final, directory=directory) as staging:
        (staging / "part" if directory else staging).write_text("half")
        raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []


def test_stale_staging_of_a_killed_run_is_removed(tmp_path):
    (tmp_path / f".result.txt{STAGING_SEPARATOR}abc123.txt").write_text("left by a killed run")
    with atomic_output(tmp_path / "result.txt") as staging:
        staging.write_text("done")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["result.txt"]


def test_staging_of_a_sibling_whose_name_extends_this_one_is_left_alone(tmp_path):
    """Batch 'q1' and batch 'q1.a' stage in the same folder at the same time."""
    with atomic_output(tmp_path / "q1.a", directory=True) as sibling_staging:
        (sibling_staging / "x.safetensors").write_text("in progress")
        with atomic_output(tmp_path / "q1", directory=True) as staging:
            (staging / "y.safetensors").write_text("done")
        assert (sibling_staging / "x.safetensors").is_file()
    assert sorted(path.name for path in tmp_path.iterdir()) == ["q1", "q1.a"]
