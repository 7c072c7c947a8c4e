"""Check that the installed environment satisfies pyproject.toml (runtime and dev requirements).

`pip check` covers the runtime requirements of the installed `sentiment`; this adds the `dev`
extra and says which lock entry is missing or out of range when pyproject.toml changed without
`make lock`. Exit 1 with one line per problem.
"""

from __future__ import annotations

import sys
import tomllib
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from packaging.requirements import Requirement


def main() -> int:
    project = tomllib.loads((Path(__file__).parent.parent / "pyproject.toml").read_text())[
        "project"
    ]
    wanted = [*project["dependencies"], *project["optional-dependencies"]["dev"]]
    problems = []
    for line in wanted:
        requirement = Requirement(line)
        if requirement.marker is not None and not requirement.marker.evaluate():
            continue
        try:
            installed = version(requirement.name)
        except PackageNotFoundError:
            problems.append(f"{requirement}: not installed (run `make lock`)")
            continue
        if not requirement.specifier.contains(installed, prereleases=True):
            problems.append(f"{requirement}: {installed} is installed (run `make lock`)")
    for problem in problems:
        print(f"lock: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
