"""Run directories built by hand, every score known: what the report tests read (no pipeline runs)."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from actionbench.fileio import atomic_write_jsonl
from actionbench.store import RunStore, Unit

INFOS = {
    "judge_total": {"metric": "judge", "description": "action and subject shown", "higher_is_better": True,
                    "kind": "binary", "role": ""},
    "judge_subject": {"metric": "judge", "description": "subject shown", "higher_is_better": True,
                      "kind": "binary", "role": "subject"},
    "judge_action": {"metric": "judge", "description": "action shown", "higher_is_better": True,
                     "kind": "binary", "role": "action"},
    "clip": {"metric": "clip", "description": "CLIP agreement", "higher_is_better": True,
             "kind": "continuous", "role": ""},
    "leak": {"metric": "leak", "description": "appearance leakage", "higher_is_better": False,
             "kind": "continuous", "role": ""},
}
SUBJECTS = [("man", "a man"), ("cat", "a cat"), ("dog", "a dog"), ("owl", "an owl")]


def colour(method: str, subject: str) -> tuple[int, int, int]:
    """A distinct solid colour per (method, subject), so a grid cell says whose image it shows."""
    methods, subjects = ["adi", "plain", "text"], [s for s, _ in SUBJECTS]
    row = methods.index(method) if method in methods else 3
    return (40 + 60 * row, 30 + 60 * subjects.index(subject), 200)


def write_run(root: Path, values, methods=("adi", "text"), actions=("cheer", "salute"), seeds=range(3),
              infos=INFOS, benchmark=("constructed", "v1"), skip=lambda method, image_id: False,
              manifest: dict | None = None) -> Path:
    """A run directory with ``values(method, action, subject, seed) -> {score: value}`` for every image;
    ``manifest`` adds to (or replaces) the manifest's entries."""
    store = RunStore(root)
    store.write_manifest({"benchmark": {"name": benchmark[0], "version": benchmark[1],
                                        "actions": {a: f"{a}-v1" for a in actions}},
                          "methods": list(methods), "base_model": {"name": "constructed"},
                          "action_descriptions": {a: f"doing a {a}" for a in actions}, **(manifest or {})})
    store.write_score_infos(infos)
    for method in methods:
        for action in actions:
            unit = Unit(method, action)
            images, scores = [], []
            for subject, text in SUBJECTS:
                for seed in seeds:
                    image_id = f"{subject}-s{seed}-0"
                    if skip(method, image_id):
                        continue
                    path = store.images_dir(unit) / f"{image_id}.png"
                    path.parent.mkdir(parents=True, exist_ok=True)
                    Image.new("RGB", (32, 32), colour(method, subject)).save(path)
                    images.append({"image_id": image_id, "file": f"images/{image_id}.png", "prompt": f"{text} {{action}}",
                                   "subject": subject, "subject_text": text, "subject_kind": "animal", "seed": seed,
                                   "index": 0})
                    for score, value in values(method, action, subject, seed).items():
                        scores.append({"image_id": image_id, "metric": INFOS.get(score, {}).get("metric", score),
                                       "score": score, "value": value, "failure": None})
            if method != methods[0]:
                scores.reverse()  # pairs must be found by action and image id, never by position
            atomic_write_jsonl(store.unit_dir(unit) / "images.jsonl", images)
            atomic_write_jsonl(store.unit_dir(unit) / "scores.jsonl", scores)
            for stage in ("generate", "score"):  # the markers vouch for these files, as a run's do
                store.mark_done(unit, stage, "constructed", 0.0)
    return root
