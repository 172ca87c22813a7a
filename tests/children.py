"""Training in child processes that die at chosen moments: ``kill -9`` and Ctrl-C, for real.

Children fork from one server process that imported torch once (multiprocessing's
"forkserver"): a fresh ``python -m engine`` per child would spend seconds on imports, a fork
takes milliseconds. The moments are chosen by wrapping a method of the trainer or the run
writer in the child only; the code under test has no hooks for it.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from engine.store import RunWriter
from engine.training import train
from engine.training.config import TrainConfig
from engine.training.loop import Trainer

OWNERS = {"Trainer": Trainer, "RunWriter": RunWriter}
_context: Any = None


PRELOAD = ["engine.training.loop", "engine.presets"]
"""What the server imports once: the training loop itself, which imports torch (the package
``engine.training`` loads it lazily). Not this module: Python 3.11's forkserver imports before
it takes the test's ``sys.path``, so it finds only installed packages; each child then imports
this module quickly, torch being loaded already."""


def context():
    """The forkserver context, its server started with torch and the engine imported."""
    global _context
    if _context is None:
        _context = multiprocessing.get_context("forkserver")
        _context.set_forkserver_preload(PRELOAD)
    return _context


def run_child(target: Callable[..., None], *args: Any, timeout: float = 120) -> int:
    """Run ``target(*args)`` in a child; its exit code (-9: killed by SIGKILL)."""
    process = context().Process(target=target, args=args)
    process.start()
    process.join(timeout)
    if process.is_alive():
        process.kill()
        process.join()
        raise AssertionError(f"the child running {target.__name__} hung")
    return process.exitcode


def wrap(method: str, before: Callable[..., None] | None, after: Callable[..., None] | None):
    """Wrap ``Owner.method`` (e.g. ``"Trainer._validate"``) so that ``before(n, args, kwargs)``
    and ``after(n, args, kwargs)`` run around its n-th call (counted from 1)."""
    owner_name, name = method.split(".")
    owner = OWNERS[owner_name]
    original = getattr(owner, name)
    calls = 0

    def wrapper(*args, **kwargs):
        nonlocal calls
        calls += 1
        if before:
            before(calls, args, kwargs)
        result = original(*args, **kwargs)
        if after:
            after(calls, args, kwargs)
        return result

    setattr(owner, name, wrapper)


def kill_me() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def same_setting_as_the_test() -> None:
    """One thread, as the test process uses meanwhile (the numbers depend on it)."""
    torch.set_num_threads(1)


# -- what children do -------------------------------------------------------------------------
def train_and_die(config: TrainConfig, folder: Path, method: str, when: str, nth: int) -> None:
    """Train, and die of SIGKILL just ``when`` ("before"/"after") the ``nth`` call of
    ``method``."""
    same_setting_as_the_test()

    def die_at(n, args, kwargs):
        if n == nth:
            kill_me()

    wrap(method, die_at if when == "before" else None, die_at if when == "after" else None)
    train(config, folder, quiet=True)


def train_and_hang(config: TrainConfig, folder: Path, at_step: int, ready) -> None:
    """Train until ``at_step``, signal ``ready``, then wait there (to be killed)."""
    same_setting_as_the_test()

    def hang(n, args, kwargs):
        if args[1] == at_step:
            ready.set()
            signal.pause()

    wrap("Trainer._after_step", None, hang)
    train(config, folder, quiet=True)


def train_with_two_ctrl_c(config: TrainConfig, folder: Path, at_step: int) -> None:
    """Ctrl-C after step ``at_step`` (a request to stop there), and Ctrl-C again while the
    checkpoint of that stop is being saved."""
    same_setting_as_the_test()
    # As a process started from a terminal: Python's own Ctrl-C handler (a child of the
    # forkserver inherits whatever the process that started the server had, ignored or not).
    signal.signal(signal.SIGINT, signal.default_int_handler)

    def first(n, args, kwargs):
        if args[1] == at_step:
            os.kill(os.getpid(), signal.SIGINT)

    def second(n, args, kwargs):
        # The stop's own save: Python runs a signal's handler at its next chance, so under
        # load the first Ctrl-C may be seen a step late and the stop saved there.
        if kwargs["step"] >= at_step:
            os.kill(os.getpid(), signal.SIGINT)  # KeyboardInterrupt before the save

    wrap("Trainer._after_step", None, first)
    wrap("RunWriter.save_checkpoint", second, None)
    train(config, folder, quiet=True)


def train_plainly(config: TrainConfig, folder: Path) -> None:
    same_setting_as_the_test()
    train(config, folder, quiet=True)
