"""The serving worker's glibc malloc setting (`entrypoints.allocator`)."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

CALL = "from sentiment.entrypoints.allocator import use_one_arena; print(use_one_arena())"


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


@pytest.mark.parametrize(("system", "libc"), [("Darwin", ""), ("Linux", "musl"), ("Windows", "")])
def test_elsewhere_nothing_is_changed(system: str, libc: str) -> None:
    from sentiment.entrypoints.allocator import use_one_arena

    assert use_one_arena(system=system, libc=libc) is False
