"""Render the training CLI's `--output-json` file as Markdown for `$GITHUB_STEP_SUMMARY`.

Usage: python .github/scripts/metrics_summary.py train.json >> "$GITHUB_STEP_SUMMARY"
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


def render(result: dict[str, Any]) -> str:
    metrics: dict[str, float] = result["metrics"]
    params: dict[str, Any] = result["params"]
    aliases = ", ".join(f"@{a}" for a in result.get("aliases", []))
    lines = [
        f"## Model `{result['model_name']}` version {result['model_version']}"
        + (f" ({aliases})" if aliases else ""),
        "",
        f"Run `{result['run_id']}`, {params.get('model_type', '?')} on "
        f"{params.get('train_size', '?')} train / {params.get('eval_size', '?')} held-out rows "
        f"({result.get('dropped_rows', 0)} dropped), {result.get('duration_s', 0):.1f} s.",
        "",
        "| metric | value |",
        "|---|---:|",
        *(f"| {name} | {value:.4f} |" for name, value in metrics.items()),
    ]
    matrix = result.get("confusion_matrix") or {}
    labels: list[str] = matrix.get("labels", [])
    if labels:
        lines += [
            "",
            "Confusion matrix (rows: true label, columns: predicted):",
            "",
            "| | " + " | ".join(labels) + " |",
            "|---|" + "---:|" * len(labels),
            *(
                f"| **{label}** | " + " | ".join(str(n) for n in row) + " |"
                for label, row in zip(labels, matrix["matrix"], strict=True)
            ),
        ]
    hyper = {k: v for k, v in params.items() if k.startswith("hp_")}
    if hyper:
        lines += ["", "Hyperparameters: " + ", ".join(f"`{k[3:]}={v}`" for k, v in hyper.items())]
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    sys.stdout.write(render(json.loads(Path(argv[1]).read_text(encoding="utf-8"))))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
