"""Read run directories into tables. Reports read the run store and nothing else."""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import pandas as pd

from actionbench.errors import ActionBenchError, first_few
from actionbench.store import STAGES, RunStore, Unit, is_current

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
    unfinished: list[Unfinished] = field(default_factory=list)  # units of the runs not on the board, and why
    not_named: list[str] = field(default_factory=list)  # scored methods the manifest no longer holds, left off

    def board_actions(self) -> set[str]:
        """The actions a method's overall row is held to: every action of the runs' manifests (and of
        what they scored or left unfinished)."""
        return ({a for m in self.manifests.values() for a in m["benchmark"]["actions"]}
                | {u.action for u in self.unfinished} | set(self.scores["action"]))

    def scored_actions(self) -> dict[str, set[str]]:
        """Method -> the actions its overall row pools."""
        return {str(m): set(part) for m, part in self.scores.groupby("method")["action"]}

    def not_run(self) -> dict[str, list[str]]:
        """Methods on the board that no run given was asked to run on some of the board's actions
        (``report A B`` of runs split unevenly): method -> those actions. Unlike an unfinished unit, no
        run can finish them; they must be run."""
        actions, scored = self.board_actions(), self.scored_actions()
        asked = {(u.method, u.action) for u in self.unfinished}
        missing = {m: sorted(a for a in actions - done if (m, a) not in asked) for m, done in scored.items()}
        return {m: left for m, left in sorted(missing.items()) if left}

    def incomplete_methods(self) -> dict[str, tuple[int, int]]:
        """Methods whose overall row covers fewer actions than the board: method -> (scored, all).
        One rule for both causes, a unit left unfinished (``unfinished``) and an action never run in
        the runs given (``not_run``): such a row is a mean over easier or harder actions than the
        others', so it is tagged, never marked best, and ``complete`` is False in the CSV."""
        actions, scored = self.board_actions(), self.scored_actions()
        methods = {u.method for u in self.unfinished} | set(self.not_run())
        return {method: (len(scored.get(method, ())), len(actions)) for method in sorted(methods)}

    def unfinished_note(self) -> str:
        """One line for a reader: which units are left off the board, why, and how to finish them."""
        if not self.unfinished:
            return ""
        shown = first_few([f"{u.method} on {u.action}: {u.reason}" for u in self.unfinished], 4, "; ")
        left = {u.method for u in self.unfinished}
        covers = ", ".join(f"{m} over {coverage(counts)}" for m, counts in self.incomplete_methods().items()
                           if m in left)
        commands = sorted({run_command(self.manifests[u.run], u.run) or f"actionbench run ... --out {u.run}"
                           for u in self.unfinished})
        return (f"{len(self.unfinished)} unit(s) not on the board ({shown}), so these overall rows are "
                f"not comparable with the other methods' rows: {covers}; finish them before citing these rows "
                f"('actionbench run' of those methods and actions with the run's settings and --out; the last "
                f"command that wrote the run resumes what it started: {'; '.join(commands)})")

    def not_run_note(self) -> str:
        """One line: the methods whose overall row pools fewer actions because they were never run on
        the others, and how to make the rows comparable."""
        missing = self.not_run()
        if not missing:
            return ""
        incomplete = self.incomplete_methods()
        covers = "; ".join(f"{m} over {coverage(incomplete[m])} (not run on {first_few(actions, 4)} in these runs)"
                           for m, actions in missing.items())
        return (f"overall rows over fewer actions than the board's: {covers}; they are not comparable with the "
                "other methods' rows and never marked best: run those methods on those actions and report that "
                "run with these, or compare the per-action tables")

    def seeds_by_method(self) -> dict[str, dict[str, tuple[int, ...]]]:
        """Method -> action -> the protocol seeds its scored images were drawn with."""
        scored = self.scores.dropna(subset=["seed"]).drop_duplicates(["method", "action", "seed"])
        seeds: dict[str, dict[str, tuple[int, ...]]] = {}
        for (method, action), part in scored.groupby(["method", "action"], sort=True):
            seeds.setdefault(str(method), {})[str(action)] = tuple(sorted(int(s) for s in part["seed"]))
        return seeds

    def mixed_seeds(self) -> bool:
        """Whether some action has methods scored on different seeds."""
        seeds = self.seeds_by_method()
        actions = {a for by_action in seeds.values() for a in by_action}
        return any(len({by_action[a] for by_action in seeds.values() if a in by_action}) > 1 for a in actions)

    def seed_groups(self) -> str:
        """``text, adi on seeds 0, 1, 2; oracle on seed 7``: the methods grouped by their seeds."""
        groups: dict[str, list[str]] = {}
        for method, by_action in self.seeds_by_method().items():
            groups.setdefault(seed_label(by_action), []).append(method)
        return "; ".join(f"{', '.join(methods)} on {label}" for label, methods in groups.items())

    def seeds_note(self) -> str:
        """One line when pooled runs scored methods on other seeds of the same action (``report A B`` of
        runs made with other ``--seeds``), naming which methods were scored on which seeds.

        Such rows are not comparable image for image (``--compare`` and ``--claims`` pair only images
        of the same seed), but they are not counted as incomplete: each seed is an independent draw of
        the protocol's noise, so a mean over other seeds estimates the same quantity (its interval
        shows its own n), while a mean over other actions does not."""
        if not self.mixed_seeds():
            return ""
        return (f"methods were scored on different seeds: {self.seed_groups()}; their means are over different "
                "images (each interval from its own n), so the rows compare unpaired, and --compare and --claims "
                "pair only images of the same seed")

    @property
    def benchmark_label(self) -> str:
        labels = sorted({f"{m['benchmark']['name']} {m['benchmark']['version']}" for m in self.manifests.values()})
        return ", ".join(labels)


def coverage(counts: tuple[int, int]) -> str:
    """``6 of 8 actions``: how much of the board an overall row covers (``incomplete_methods``' values)."""
    return f"{counts[0]} of {counts[1]} actions"


def seed_label(by_action: dict[str, tuple[int, ...]]) -> str:
    """``seeds 0, 1, 2``, or per action where they differ (``seeds 0, 1, 2 on cheer and 5, 6 on sit``)."""
    groups: dict[tuple[int, ...], list[str]] = {}
    for action, seeds in by_action.items():
        groups.setdefault(seeds, []).append(action)

    def seeds_text(seeds: tuple[int, ...]) -> str:
        return ", ".join(map(str, seeds))

    if len(groups) == 1:
        seeds = next(iter(groups))
        return f"seed{'s' if len(seeds) > 1 else ''} {seeds_text(seeds)}"
    return "seeds " + " and ".join(f"{seeds_text(s)} on {', '.join(a)}" for s, a in groups.items())


@dataclass(frozen=True)
class Unfinished:
    """A unit the run's manifest holds (or that it no longer holds but is on disk) whose scores are not on the board."""

    run: str
    method: str
    action: str
    reason: str  # not started or finished / a stage's failure / stale / made under settings no longer held


def left_off(store: RunStore, unit: Unit, manifest: dict[str, Any]) -> str | None:
    """Why ``unit``'s scores stay off the board (None: they are on it).

    Scores count when their marker holds the score key the run's manifest records for the unit
    (the manifest's ``stage_keys``; runs written before it are taken as they are): a run interrupted
    while re-scoring under new settings must not average old scores with new ones on one board.
    """
    if "stage_keys" in manifest and unit.label not in manifest["stage_keys"]:
        return "made under settings the run no longer holds (a later 'run' changed them)"
    marker = store.marker(unit, "score")
    if is_current(manifest, unit, "score", marker):
        return None
    for stage in STAGES:
        failure = store.failure(unit, stage)
        if failure is not None:
            error = (str(failure.get("error") or "no reason recorded").strip().splitlines() or [""])[0]
            return f"{stage} failed: {error[:100]}"
    if marker is not None:
        return "scored under settings other than the run's last 'run' (its scores are stale)"
    return "not finished"


def load_runs(run_dirs: Sequence[str | Path]) -> RunData:
    if not run_dirs:
        raise ActionBenchError("no run directory given", "pass the folder of a run, e.g. runs/latest")
    score_frames, image_frames, infos, manifests, descriptions = [], [], {}, {}, {}
    unfinished: list[Unfinished] = []
    not_named: set[str] = set()  # methods with scores in a run whose last invocation did not name them
    pooled = PooledRuns()
    for run_dir in distinct_runs(run_dirs):
        store = RunStore(run_dir)
        manifest = store.manifest()
        run = str(store.root)
        manifests[run] = manifest
        pooled.check_run(manifest, run)
        descriptions.update(manifest.get("action_descriptions", {}))
        infos.update(store.score_infos())
        present = set(store.units())  # units asked for but without a folder have not started
        unfinished += [Unfinished(run, method, action, "not started")
                       for method in manifest["methods"] for action in manifest["benchmark"]["actions"]
                       if Unit(method, action) not in present]
        for unit in store.units():
            if unit.action is None:
                continue  # reference units are inputs to metrics, not entries of the board
            if unit.method not in manifest["methods"]:
                if store.marker(unit, "score") is not None:
                    not_named.add(unit.method)
                continue  # scored under an earlier invocation's settings, which the manifest no longer holds
            pooled.check_unit(unit, run)
            check_intact(store, unit, manifest)
            reason = left_off(store, unit, manifest)
            if reason is not None:
                unfinished.append(Unfinished(run, unit.method, unit.action, reason))
                continue
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
                   manifests=manifests, descriptions=descriptions, unfinished=unfinished,
                   not_named=sorted(not_named))


SEPARATELY = "report these runs separately; their scores are not comparable"


@dataclass
class PooledRuns:
    """What must agree between runs pooled into one board, as first seen (value, run).

    One board row per method pools that method's images over every run given, so a method run with
    other settings (ADI at 300 updates beside the board's 150) or on another base model, an action's
    other data, other scorer weights or other metric settings would be averaged in silently; and a
    unit in two runs would count its images twice (intervals too narrow). Each is refused with one
    line instead.
    """

    seen: dict[tuple[str, str], tuple[Any, str]] = field(default_factory=dict)

    def agree(self, kind: str, name: str, value: Any, run: str, problem: str, fix: str = SEPARATELY) -> None:
        first = self.seen.setdefault((kind, name), (value, run))
        if first[0] != value:
            raise ActionBenchError(problem.format(name=name, first=first[1], run=run), fix)

    def check_run(self, manifest: dict[str, Any], run: str) -> None:
        self.check_base_model(manifest.get("base_model"), run)
        for action, version in manifest["benchmark"]["actions"].items():
            self.agree("action", action, version, run, "action '{name}' has different data in {first} and {run}")
        for method, config in manifest.get("method_configs", {}).items():
            if method in manifest["methods"]:
                self.agree("method", method, config, run,
                           "method '{name}' was run with different settings in {first} and {run}")
        for scorer, version in manifest.get("scorer_versions", {}).items():
            self.agree("scorer", scorer, version, run, "the {name} scorer has different weights in {first} and {run}")
        for metric, settings in manifest.get("metric_configs", {}).items():
            self.agree("metric", metric, settings, run,
                       "metric '{name}' was scored with different settings in {first} and {run}")
        for metric in manifest.get("metrics", []):  # runs written before versions were recorded: every metric at 1
            self.agree("version", metric, manifest.get("metric_versions", {}).get(metric, 1), run,
                       "metric '{name}' was scored by different versions of its code in {first} and {run}",
                       fix="re-run the older run with 'actionbench run' (it re-scores only), or report them separately")

    def check_base_model(self, model: Any, run: str) -> None:
        """Every image of a board comes from one base model: the same method on SD 2.1 and on the mini
        model are two methods, whatever their settings."""
        first, first_run = self.seen.setdefault(("base model", ""), (model, run))
        if first != model:
            names = [base_model_label(m) for m in (first, model)]
            if names[0] == names[1]:  # one name, other weights: the model index tells them apart
                names = [base_model_label(m, index=True) for m in (first, model)]
            raise ActionBenchError(f"{first_run} and {run} were made with different base models "
                                   f"({names[0]} and {names[1]})", "report them separately; images of different models are not comparable")

    def check_unit(self, unit: Unit, run: str) -> None:
        """A unit belongs to one run: the run it was first seen in must be this one."""
        self.agree("unit", f"{unit.method} on {unit.action}", run, run,
                   "{name} is in both {first} and {run}: its images would count twice",
                   fix="report one of them, or these runs separately")


def base_model_label(model: Any, index: bool = False) -> str:
    """A manifest's base model identity in words: its name, with its model index's hash if asked."""
    if not isinstance(model, dict):
        return "an unrecorded one" if model is None else repr(model)
    name = f"'{model.get('name')}'"
    return f"{name} (model index {model.get('index')})" if index else name


def check_intact(store: RunStore, unit: Unit, manifest: dict[str, Any]) -> None:
    """Refuse a unit whose images or scores are not what their markers vouch for: a board built from
    a deleted or truncated ``scores.jsonl`` would silently show fewer images, not an error."""
    for stage, name in (("generate", "images.jsonl"), ("score", "scores.jsonl")):
        path = store.unit_dir(unit) / name
        if store.marker(unit, stage) is None:
            if path.is_file():
                raise ActionBenchError(f"{path} is not vouched for: its marker {stage}.json is missing or unreadable",
                                       repair_hint(store, manifest))
            continue  # the stage has not finished: the unit is simply not on the board yet
        damage = store.verify(unit, stage)
        if damage:
            raise ActionBenchError(f"{store.unit_dir(unit) / damage[0].file} {damage[0].problem}",
                                   repair_hint(store, manifest))


def distinct_runs(run_dirs: Sequence[str | Path]) -> list[str | Path]:
    """Each run directory once (as first spelt), however given (``r3 ./r3``, a link, an absolute
    path): a run read twice would count every image twice and narrow every interval."""
    seen: set[Path] = set()
    distinct = []
    for run_dir in run_dirs:
        resolved = Path(run_dir).resolve()
        if resolved not in seen:
            seen.add(resolved)
            distinct.append(run_dir)
    return distinct


def run_command(manifest: dict[str, Any], run_dir: str | Path) -> str | None:
    """The last ``actionbench run ...`` that wrote the run (the manifest remembers it), if any, with its
    ``--out`` naming ``run_dir``: the run may have been moved or copied since, and the command as typed
    would then resume (and write into) the directory it came from."""
    for invocation in reversed(manifest.get("invocations", [])):
        argv = [str(a) for a in invocation.get("argv") or []]
        if argv and Path(argv[0]).name in ("actionbench", "__main__.py") and "run" in argv[1:]:
            return f"actionbench {shlex.join(with_out(argv[1:], str(run_dir)))}"
    return None


def with_out(args: list[str], run_dir: str) -> list[str]:
    """``args`` with ``--out`` set to ``run_dir``: in place where it was given, else added at the end."""
    for i, arg in enumerate(args):
        if arg == "--out" and i + 1 < len(args):
            return args[:i + 1] + [run_dir] + args[i + 2:]
        if arg.startswith("--out="):
            return args[:i] + [f"--out={run_dir}"] + args[i + 1:]
    return args + ["--out", run_dir]


def repair_hint(store: RunStore, manifest: dict[str, Any]) -> str:
    """The command that repairs a damaged run: the run command that wrote it, which redoes only the
    damaged units."""
    command = run_command(manifest, store.root)
    if command:
        return f"repair it by re-running the run, which redoes only the damaged units: {command}"
    return (f"repair it by re-running 'actionbench run' with the same settings and --out {store.root}, "
            "which redoes only the damaged units")
