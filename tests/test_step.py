"""Atomic outputs and batch files: nothing under the final name unless the step succeeds, files colleagues can
read, and tensors that come back as they were saved."""

from __future__ import annotations

import io
import logging
import os
import stat
import sys
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from bertscope import BertscopeError
from bertscope.pipeline.step import STAGING_SEPARATOR, atomic_output, run_step
from bertscope.pipeline.tensor_io import BatchFile, read_records, save_batch


@pytest.fixture()
def umask_022():
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def batch() -> dict:
    """Two examples with torch tensors and numpy arrays of different dtypes, and their records."""
    return {
        "q1": (
            {"a": torch.arange(6.0).reshape(2, 3), "ids": torch.tensor([[101, 7, 102]])},
            {"tokens": ["[CLS]", "x", "[SEP]"], "token_to_explain": 1},
        ),
        "q1.a": (
            {"a": np.full((2, 1), -1.5, dtype=np.float32), "sums": np.array([0.25, 0.5])},
            {"tokens": ["[CLS]"], "token_to_explain": 0},
        ),
    }


def test_saved_batch_is_readable_by_others_and_round_trips_as_torch(tmp_path, umask_022):
    path = tmp_path / "x.safetensors"
    save_batch(path, batch())
    assert mode(path) == 0o644
    loaded = BatchFile(path, framework="pt")
    assert loaded.examples == ["q1", "q1.a"]
    assert loaded.records == {example: record for example, (_, record) in batch().items()}
    first = loaded.tensors("q1")
    assert sorted(first) == ["a", "ids"]
    assert torch.equal(first["a"], torch.arange(6.0).reshape(2, 3))
    assert torch.equal(first["ids"], torch.tensor([[101, 7, 102]])) and first["ids"].dtype == torch.int64
    second = loaded.tensors("q1.a")
    assert sorted(second) == ["a", "sums"], "an example whose id extends another's has only its own tensors"
    assert torch.equal(second["a"], torch.full((2, 1), -1.5)) and second["a"].dtype == torch.float32
    assert torch.equal(loaded.tensor("q1.a", "sums"), torch.tensor([0.25, 0.5], dtype=torch.float64))


def test_saved_batch_round_trips_as_numpy(tmp_path):
    path = tmp_path / "x.safetensors"
    save_batch(path, batch())
    loaded = BatchFile(path)
    a = loaded.tensor("q1", "a")
    assert isinstance(a, np.ndarray) and a.dtype == np.float32
    np.testing.assert_array_equal(a, np.arange(6.0).reshape(2, 3))
    np.testing.assert_array_equal(loaded.tensor("q1.a", "a"), np.full((2, 1), -1.5))
    np.testing.assert_array_equal(loaded.tensors("q1.a")["sums"], [0.25, 0.5])


def test_records_are_read_without_reading_any_tensor(tmp_path, monkeypatch):
    path = tmp_path / "x.safetensors"
    save_batch(path, batch())

    def refuse(*args, **kwargs):
        raise AssertionError("a tensor was read")

    monkeypatch.setattr(BatchFile, "tensor", refuse)
    monkeypatch.setattr(BatchFile, "tensors", refuse)
    assert read_records(path) == {
        "q1": {"tokens": ["[CLS]", "x", "[SEP]"], "token_to_explain": 1},
        "q1.a": {"tokens": ["[CLS]"], "token_to_explain": 0},
    }


def test_missing_tensor_is_an_error_naming_the_file_and_example(tmp_path):
    path = tmp_path / "x.safetensors"
    save_batch(path, batch())
    with pytest.raises(BertscopeError, match=r"no readable tensor 'delta' of example 'q1'.*Fix: delete") as error:
        BatchFile(path).tensor("q1", "delta")
    assert str(path) in str(error.value)


@pytest.mark.parametrize("keep", [0, 8, 100, -16], ids=["empty", "length", "header", "data"])
def test_truncated_file_is_an_error_naming_the_path(tmp_path, keep):
    path = tmp_path / "x.safetensors"
    save_batch(path, batch())
    path.write_bytes(path.read_bytes()[:keep])
    with pytest.raises(BertscopeError, match=r"cannot be read.*Fix: delete the file") as error:
        BatchFile(path).tensors("q1")
    assert str(path) in str(error.value)


def test_a_changed_byte_of_tensor_data_is_an_error_naming_the_path_and_the_tensor(tmp_path):
    path = tmp_path / "x.safetensors"
    save_batch(path, batch())
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF  # the last byte of the data: the file still parses, only the checksum can tell
    path.write_bytes(bytes(data))
    damaged = BatchFile(path)
    with pytest.raises(BertscopeError, match=r"does not match the checksum.*Fix: delete the file") as error:
        [damaged.tensors(example) for example in damaged.examples]
    assert str(path) in str(error.value) and "tensor '" in str(error.value)


def test_directory_output_is_shared_recursively(tmp_path, umask_022):
    with atomic_output(tmp_path / "out", directory=True) as staging:
        (staging / "inner").mkdir()
        save_batch(staging / "inner" / "t.safetensors", {"q1": ({"a": torch.zeros(1)}, {})})
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


def test_a_line_on_stderr_is_already_in_the_steps_log(tmp_path, monkeypatch):
    """A watcher that kills a run on a line it reads from stderr finds that line in the job's log."""
    log_file = tmp_path / "logs" / "step.log"
    written = []  # (what reached stderr, the log file's text at that moment)

    class Terminal(io.StringIO):
        def write(self, text):
            written.append((text, log_file.read_text()))
            return super().write(text)

    monkeypatch.setattr(sys, "stderr", Terminal())
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", [])  # run_step's handlers go with the test
    run_step(
        lambda smk: logging.getLogger("bertscope").info("group 1 of 3"),
        {"snakemake": SimpleNamespace(log=[str(log_file)], rule="step")},
    )
    for handler in root.handlers:
        handler.close()
    lines = [text for text, _ in written if text.strip()]
    assert len(lines) == 3 and "group 1 of 3" in lines[1], lines
    for text, in_file in written:
        assert text in in_file, text
