"""The serving worker's glibc malloc setting (`entrypoints.allocator`)."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

CALL = "from sentiment.entrypoints.allocator import use_one_arena; print(use_one_arena())"
# Four threads allocate at the same time (64 KiB blocks come from malloc, not from Python's own
# allocator), then glibc's malloc_stats() prints one "Arena N:" paragraph per arena to stderr.
THREADS_ALLOCATE = """
import ctypes, sys, threading
from sentiment.entrypoints.allocator import use_one_arena
if sys.argv[1] == "one-arena":
    use_one_arena()
barrier = threading.Barrier(4)
def work():
    barrier.wait()
    blocks = [bytearray(64 * 1024) for _ in range(20)]
    barrier.wait()
threads = [threading.Thread(target=work) for _ in range(4)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
ctypes.CDLL(None).malloc_stats()
"""


def arenas_after_four_threads_allocate(setting: str, env: dict[str, str]) -> int:
    done = subprocess.run(
        [sys.executable, "-c", THREADS_ALLOCATE, setting],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return sum(line.startswith("Arena ") for line in done.stderr.splitlines())


def run(env: dict[str, str]) -> str:
    """use_one_arena() in a fresh interpreter (it changes the process's allocator)."""
    done = subprocess.run(
        [sys.executable, "-c", CALL], env=env, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


@pytest.mark.skipif(
    platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc only"
)
def test_one_arena_unless_the_operator_set_a_maximum() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    assert run(env) == "True"
    assert run({**env, "MALLOC_ARENA_MAX": "4"}) == "False"


@pytest.mark.skipif(
    platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc only"
)
def test_the_threads_of_a_worker_allocate_from_one_arena() -> None:
    # glibc's mallopt() answers 1 for almost any option and value, so True alone does not show
    # that the setting took: count the arenas the threads used.
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    assert arenas_after_four_threads_allocate("default", env) > 1  # an arena per thread, else
    assert arenas_after_four_threads_allocate("one-arena", env) == 1


@pytest.mark.parametrize(("system", "libc"), [("Darwin", ""), ("Linux", "musl"), ("Windows", "")])
def test_elsewhere_nothing_is_changed(system: str, libc: str) -> None:
    from sentiment.entrypoints.allocator import use_one_arena

    assert use_one_arena(system=system, libc=libc) is False
