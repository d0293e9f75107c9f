"""ActionBench-Mini's quality bars (issue 7), printed as one table.

    python benchmarks/mini_quality.py                    # scorers, base model, held-out from text, legibility
    python benchmarks/mini_quality.py --images 40 --skip scorers,base,held-out   # legibility alone (~1 min)
    python benchmarks/mini_quality.py --customization    # + textual inversion against `text` (a run)

The first part is ``actionbench mini quality``. ``--customization`` runs ``text`` and
``textual_inversion`` on all 8 held-out actions with the benchmark's default settings (about
10 to 20 CPU-minutes) and checks that textual inversion learns the pose (the ``pose`` metric's
OKS clearly above ``text``) and leaks the exemplars' species: non-human subjects drawn as people
(the exact-label judge's species on each image) more often than with ``text``, which the suite's
``subject`` metric must expose as a lower ``subject_top1``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np


def drawn_as_person_rate(out: Path, method: str) -> float:
    """Fraction of a method's images of non-human subjects that the judge calls a person."""
    from PIL import Image

    from actionbench.mini.datasets import SPECIES_NAMES
    from actionbench.mini.judge import judge_images, load_judge
    from actionbench.mini.train.loop import to_unit_range
    from actionbench.store import RunStore

    store = RunStore(out)
    paths = []
    for unit in store.units():
        if unit.method != method or unit.action is None:
            continue
        paths += [store.unit_dir(unit) / row["file"] for row in store.image_rows(unit) if row["subject_kind"] != "human"]
    pixels = to_unit_range(np.stack([np.asarray(Image.open(p).convert("RGB")) for p in paths]))
    species = judge_images(load_judge(), pixels)["species"]
    return float(np.mean([SPECIES_NAMES[s] == "person" for s in species]))


def customization_bars(out: Path, actions: list[str]):
    from actionbench.config import RunConfig
    from actionbench.mini.quality import Bar
    from actionbench.reports.leaderboard import leaderboard
    from actionbench.reports.load import load_runs
    from actionbench.runner import run

    summary = run(RunConfig(methods=["text", "textual_inversion"], actions=actions, benchmark="mini",
                            metrics=["pose", "subject"], out=str(out)))
    if summary.failures:
        raise SystemExit(f"the customization run failed: {summary.failures}")
    board = leaderboard(load_runs([out]))
    overall = board[board["action"] == "overall"].set_index(["method", "score"])["mean"]
    text_oks, ti_oks = overall[("text", "pose_oks")], overall[("textual_inversion", "pose_oks")]
    text_person, ti_person = drawn_as_person_rate(out, "text"), drawn_as_person_rate(out, "textual_inversion")
    text_subject, ti_subject = overall[("text", "subject_top1")], overall[("textual_inversion", "subject_top1")]
    per_action = board[(board["score"] == "pose_oks") & (board["action"] != "overall")]
    return [
        Bar("held-out actions: textual inversion pose agreement (OKS)", ti_oks, f"> text + 0.1 ({text_oks:.3f})",
            ti_oks > text_oks + 0.1),
        Bar("held-out actions: `text` pose agreement (OKS)", text_oks, "", None),
        *[Bar(f"  {r.action}: {r.method}", r["mean"], "", None) for _, r in per_action.iterrows()],
        Bar("non-human subjects drawn as a person: textual inversion", ti_person, f"> text ({text_person:.3f})",
            ti_person > text_person),
        Bar("non-human subjects drawn as a person: `text`", text_person, "", None),
        Bar("subject metric (subject_top1): textual inversion", ti_subject, f"< text ({text_subject:.3f})",
            ti_subject < text_subject),
    ]


def main(argv: list[str] | None = None) -> int:
    from actionbench.mini.quality import run_quality

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip", default="", help="comma-separated: scorers, base, held-out, legibility")
    parser.add_argument("--customization", action="store_true")
    parser.add_argument("--out", default="runs/mini-quality", help="run directory for --customization")
    parser.add_argument("--actions", default="all", help="actions for --customization (default: all 8)")
    args = parser.parse_args(argv)
    status = run_quality(images=args.images, seed=args.seed,
                         skip={s.strip() for s in args.skip.split(",") if s.strip()})
    if args.customization:
        bars = customization_bars(Path(args.out), [a.strip() for a in args.actions.split(",") if a.strip()])
        print("customization on the held-out actions (textual inversion vs text, benchmark defaults)")
        for bar in bars:
            print(bar.line())
        status = status or int(any(b.passed is False for b in bars))
    return status


if __name__ == "__main__":
    sys.exit(main())
