"""Read run directories into tables. Reports read the run store and nothing else."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from actionbench.errors import ActionBenchError
from actionbench.store import RunStore

SCORE_COLUMNS = ["run", "method", "action", "image_id", "subject", "subject_kind", "seed", "metric", "score",
                 "value", "failure"]
IMAGE_COLUMNS = ["run", "method", "action", "image_id", "path", "prompt", "subject", "subject_text",
                 "subject_kind", "seed"]


@dataclass
class RunData:
    """Everything a report needs, merged over one or more runs."""

    scores: pd.DataFrame  # one row per image x score
    images: pd.DataFrame  # one row per generated image
    infos: dict[str, dict[str, Any]]  # score name -> metric, description, higher_is_better, kind, role
    manifests: dict[str, dict[str, Any]]  # run dir -> manifest
    descriptions: dict[str, str] = field(default_factory=dict)  # action -> its description in words

    @property
    def benchmark_label(self) -> str:
        labels = sorted({f"{m['benchmark']['name']} {m['benchmark']['version']}" for m in self.manifests.values()})
        return ", ".join(labels)


def load_runs(run_dirs: list[str | Path]) -> RunData:
    if not run_dirs:
        raise ActionBenchError("no run directory given", "pass the folder of a run, e.g. runs/latest")
    score_frames, image_frames, infos, manifests, descriptions = [], [], {}, {}, {}
    action_versions: dict[str, tuple[str, str]] = {}
    for run_dir in run_dirs:
        store = RunStore(run_dir)
        manifest = store.manifest()
        run = str(store.root)
        manifests[run] = manifest
        for action, version in manifest["benchmark"]["actions"].items():
            seen = action_versions.setdefault(action, (version, run))
            if seen[0] != version:
                raise ActionBenchError(
                    f"action '{action}' has different data in {seen[1]} and {run}",
                    "report these runs separately; their scores are not comparable")
        descriptions.update(manifest.get("action_descriptions", {}))
        infos.update(store.score_infos())
        for unit in store.units():
            if unit.action is None or unit.method not in manifest["methods"]:
                continue  # reference units are inputs to metrics, not entries of the board
            images = store.image_rows(unit)
            by_id = {row["image_id"]: row for row in images}
            for row in images:
                image_frames.append({"run": run, "method": unit.method, "action": unit.action,
                                     "image_id": row["image_id"], "path": str(store.unit_dir(unit) / row["file"]),
                                     "prompt": row["prompt"], "subject": row["subject"],
                                     "subject_text": row.get("subject_text", row["subject"]),
                                     "subject_kind": row.get("subject_kind", ""), "seed": row["seed"]})
            for row in store.score_rows(unit):
                image = by_id.get(row["image_id"], {})
                score_frames.append({"run": run, "method": unit.method, "action": unit.action,
                                     "image_id": row["image_id"], "subject": image.get("subject"),
                                     "subject_kind": image.get("subject_kind", ""), "seed": image.get("seed"),
                                     "metric": row["metric"], "score": row["score"], "value": row["value"],
                                     "failure": row.get("failure")})
    scores = pd.DataFrame(score_frames, columns=SCORE_COLUMNS)
    scores["value"] = pd.to_numeric(scores["value"], errors="coerce")
    return RunData(scores=scores, images=pd.DataFrame(image_frames, columns=IMAGE_COLUMNS), infos=infos,
                   manifests=manifests, descriptions=descriptions)
