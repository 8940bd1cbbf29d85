"""What every step script shares: its arguments (from Snakemake or the command line), logging, and atomic writes."""

from __future__ import annotations

import argparse
import contextlib
import errno
import glob
import logging
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace

import yaml

from bertscope import BertscopeError, DamagedFileError, DamagedTablePartError

log = logging.getLogger("bertscope")
STAGING_SEPARATOR = "+"
_UMASK = os.umask(0)
os.umask(_UMASK)


class _NamedList(list):
    """A list whose items can also be read by name, like Snakemake's ``input``/``output``/``params``."""

    def __init__(self, named: dict):
        super().__init__(named.values())
        self.__dict__.update(named)

    def __getitem__(self, key):
        if isinstance(key, str):
            return self.__dict__[key]
        return super().__getitem__(key)


def _parse_cli(argv: list[str], doc: str) -> SimpleNamespace:
    parser = argparse.ArgumentParser(
        description=doc,
        epilog="Arguments are SECTION.NAME=VALUE with SECTION one of input, output, params, wildcards, log, "
        "or threads=N. Values are read as YAML (50 is a number, [png, svg] a list).",
    )
    parser.add_argument("assignments", nargs="*", metavar="SECTION.NAME=VALUE")
    args = parser.parse_args(argv)
    sections: dict[str, dict] = {name: {} for name in ("input", "output", "params", "wildcards", "log")}
    threads = 1
    for assignment in args.assignments:
        key, sep, raw = assignment.partition("=")
        if not sep:
            parser.error(f"'{assignment}' is not of the form SECTION.NAME=VALUE")
        value = yaml.safe_load(raw) if raw else ""
        if key == "threads":
            threads = int(value)
            continue
        section, dot, name = key.partition(".")
        if not dot or section not in sections:
            parser.error(f"'{key}': the section must be one of {', '.join(sections)} (as in params.n_steps=50)")
        if section in ("input", "output", "log"):
            value = [str(item) for item in value] if isinstance(value, list) else str(value)
        sections[section][name] = value
    return SimpleNamespace(threads=threads, **{name: _NamedList(named) for name, named in sections.items()})


def run_step(main: Callable[[object], None], script_globals: dict) -> None:
    """Run a step's ``main`` with Snakemake's ``snakemake`` object, or with one built from the command line.

    Logs go to the rule's log file (and stderr). A :class:`BertscopeError` ends the step with its message alone,
    no traceback: it is the user's to fix, not a bug.

    Args:
        main: the step's function of the job object (``input``, ``output``, ``params``, ``log``, ``threads``).
        script_globals: the script's ``globals()``: its ``snakemake`` object under Snakemake, else its ``__doc__``
            for the command line's help.
    """
    smk = script_globals.get("snakemake") or _parse_cli(sys.argv[1:], script_globals.get("__doc__") or "")
    # The log file first, then stderr: whoever sees a line on the terminal finds it in the file already (a run
    # killed right after a line it printed keeps that line in the job's log).
    handlers: list[logging.Handler] = []
    if len(smk.log):
        Path(smk.log[0]).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(smk.log[0], mode="w"))
    handlers.append(logging.StreamHandler(sys.stderr))
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", handlers=handlers, force=True
    )
    started = time.perf_counter()
    # The first line of every job's log: the job has begun (what a watcher, or a kill test, waits for).
    log.info("%s: started", getattr(smk, "rule", None) or Path(sys.argv[0]).stem)
    try:
        main(smk)
    except DamagedTablePartError as error:
        log.error("%s", error)
        sys.exit(1)
    except DamagedFileError as error:
        rule = getattr(smk, "rule", None)
        log.error("%s%s", error, f": snakemake --forcerun {rule}" if rule else "")
        sys.exit(1)
    except BertscopeError as error:
        log.error("%s", error)
        sys.exit(1)
    except Exception:
        log.exception("step failed")
        raise
    log.info("done in %.2f s", time.perf_counter() - started)


def _share(path: Path) -> None:
    """Give ``path`` (and, for a directory, everything in it) the umask's usual permissions.

    mkstemp/mkdtemp and safetensors create private (0600/0700) files; results are meant to be read by colleagues.
    """
    for item in [path, *path.rglob("*")] if path.is_dir() else [path]:
        os.chmod(item, (0o777 if item.is_dir() else 0o666) & ~_UMASK)


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike, directory: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; move it into place only if the block succeeds.

    A step killed or failing half-way never leaves a truncated file under the final name. Staging files that a
    killed run of the same step left behind are removed first.

    Args:
        path: the final file or directory.
        directory: stage a directory instead of a file (an existing final directory is replaced).

    Returns:
        A context manager yielding the staging path, given the umask's permissions when it moves into place.
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    # "+" occurs in no output name (example ids and batch names exclude it), so this pattern cannot match the
    # staging path of a sibling output whose name merely starts with this one's (batch "q1" and batch "q1.a").
    prefix = f".{final.name}{STAGING_SEPARATOR}"
    for stale in final.parent.glob(f"{glob.escape(prefix)}*"):
        shutil.rmtree(stale) if stale.is_dir() else stale.unlink()
    if directory:
        staging = Path(tempfile.mkdtemp(prefix=prefix, dir=final.parent))
    else:
        handle, name = tempfile.mkstemp(prefix=prefix, suffix=final.suffix, dir=final.parent)
        os.close(handle)
        staging = Path(name)
    try:
        yield staging
        _share(staging)
        if directory and final.exists():
            shutil.rmtree(final)
        os.replace(staging, final)
    except BaseException as error:
        if staging.is_dir():
            shutil.rmtree(staging, ignore_errors=True)
        else:
            staging.unlink(missing_ok=True)
        if _no_space(error):
            raise BertscopeError(
                f"no space left on the device writing {final} ({error}); nothing was written under its name. "
                f"Fix: free space on the file system of {final.parent} (df -h shows it), then rerun"
            ) from None
        raise


def _no_space(error: BaseException) -> bool:
    """Whether ``error`` says the file system is full (errno ENOSPC or EDQUOT, as OSError or in a library's text).

    Not for a :class:`BertscopeError`: one raised by an inner :func:`atomic_output` already says so.
    """
    if isinstance(error, BertscopeError):
        return False
    if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    return "No space left on device" in str(error) or "Disk quota exceeded" in str(error)


def results_problem(results: str | os.PathLike = "results") -> str | None:
    """Why a run cannot write below ``results`` (a read-only or full file system, no permission), or None.

    Tried by creating and removing a file in ``results`` (or, before the first run, in the nearest folder that
    exists): permission bits alone say nothing for root or on a read-only mount.
    """
    folder = Path(results).absolute()
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        handle, name = tempfile.mkstemp(prefix=".bertscope-write-check", dir=folder)
        os.close(handle)
        os.unlink(name)
    except OSError as error:
        return (
            f"{folder} cannot be written ({error.strerror}), so no job could save its results. Fix: make it "
            "writable (remount it read-write, or fix its permissions), or run in another directory (--directory)"
        )
    return None
