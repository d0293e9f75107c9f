"""How much the judge's accuracy depends on its few settings: one setting varied at a time.

    python benchmarks/judge_sensitivity.py [--shared ../shared]

Leave-one-out (``validate-judge``) on the 80 ActionBench photos (8 actions) and the 60 yoga photos
(6 poses, mirror-invariant, as a benchmark folder pointing at the photos in place), for the default
settings and for each setting changed alone: the segment tolerance ``sigma``, the joint visibility
threshold ``visible``, hand evidence on or off, the hand detector's confidence, and mirroring on the
yoga set. Prints top-1 accuracy, the ROC AUC of same- vs different-action pairs and the calibrated
threshold per set. Poses and hands are computed once (in memory) and reused by every row; the one
ActionBench photo without a detected person is judged by the tiny random CLIP in every row.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # judge_helpers: the yoga set as a benchmark folder

from actionbench.data import get_benchmark  # noqa: E402
from actionbench.metrics.judge import JudgeSettings  # noqa: E402
from actionbench.metrics.judge_validation import validate_judge  # noqa: E402
from actionbench.perception.hands_mediapipe import MediapipeHands  # noqa: E402
from actionbench.perception.settings import ScorerConfig  # noqa: E402

SCORERS = ScorerConfig(clip_model="tiny-random", pose_backend="mediapipe")
VARIATIONS: list[tuple[str, dict, float | None]] = [  # (label, judge settings, hand detector confidence)
    ("default (sigma 0.5, visible 0.5, hands on)", {}, None),
    ("sigma 0.3", {"sigma": 0.3}, None),
    ("sigma 0.4", {"sigma": 0.4}, None),
    ("sigma 0.7", {"sigma": 0.7}, None),
    ("sigma 1.0", {"sigma": 1.0}, None),
    ("visible 0.3", {"visible": 0.3}, None),
    ("visible 0.7", {"visible": 0.7}, None),
    ("hands off (body joints only)", {"hands": False}, None),
    ("hand detector confidence 0.3", {}, 0.3),
    ("hand detector confidence 0.7", {}, 0.7),
    ("mirroring off", {"mirror": False}, None),
]


def load_sets(shared: Path, folder: Path):
    from judge_helpers import YOGA_DESCRIPTIONS, write_photo_benchmark

    os.environ["ACTIONBENCH_DATA"] = str(shared / "actionbench")
    official = get_benchmark("actionbench", with_custom=False)
    yoga = get_benchmark(str(write_photo_benchmark(folder / "yoga", shared / "actions", YOGA_DESCRIPTIONS,
                                                   mirror_invariant=True, name="yoga")), with_custom=False)
    return {"ActionBench": official, "yoga": yoga}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared", help="the folder holding actionbench/ and actions/")
    args = parser.parse_args()
    if not (args.shared / "actionbench").is_dir() or not (args.shared / "actions").is_dir():
        sys.exit(f"{args.shared} lacks actionbench/ or actions/: point --shared at the shared fixtures")
    with tempfile.TemporaryDirectory() as folder:
        os.environ["ACTIONBENCH_HOME"] = str(Path(folder) / "home")  # nothing cached on disk between rows' settings
        sets = load_sets(args.shared, Path(folder))
        detectors: dict[float | None, dict] = {}
        print(f"{'setting':<44} " + " ".join(f"{name + ' acc':>16} {'auc':>6} {'thr':>6}" for name in sets))
        for label, settings, confidence in VARIATIONS:
            shared = detectors.setdefault(confidence, {})
            if confidence is not None:
                shared[("hand_detector", MediapipeHands.name)] = MediapipeHands(min_detection_confidence=confidence)
            cells = []
            for benchmark in sets.values():
                result = validate_judge(benchmark, list(benchmark.actions.values()), SCORERS,
                                        JudgeSettings(**settings), shared=shared)
                cells.append(f"{result.accuracy:16.3f} {result.auc:6.3f} {result.calibration.threshold:6.3f}")
            print(f"{label:<44} " + " ".join(cells), flush=True)


if __name__ == "__main__":
    main()
