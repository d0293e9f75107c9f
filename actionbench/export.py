"""A trained unit as a folder for a model hub: artifact, model card, samples, and a script that loads it.

``actionbench export RUN_DIR --method M --action A DIR`` writes::

    DIR/
      README.md          the model card: the hub's YAML metadata, how to load it, samples, scores with
                         95% CIs, settings, training data and its licence, how to reproduce it
      example.py         the card's loading snippet as a script (stock diffusers, no ActionBench import)
      samples/           the suite's images for the card's prompt and seeds, each with its sidecar, and a grid
      actionbench_export.json   the same facts for machines
      base/              the base pipeline, when it is one the suite ships (mini, tiny: a few MB)
      ...                the artifact's files (and, for layer-wise identifiers, their loader pipeline.py)

The folder is built beside DIR and renamed into place, so it appears whole or not at all.
"""

from __future__ import annotations

import dataclasses
import json
import math
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from actionbench import __version__
from actionbench.base_models import BASE_MODELS
from actionbench.errors import ActionBenchError
from actionbench.fileio import atomic_folder, atomic_write_json, atomic_write_text
from actionbench.loading import ArtifactFormat, Snippet, artifact_format, fill_prompt
from actionbench.methods import METHODS
from actionbench.samples import SampleRequest, TrainedUnit, check_out_dir, generate_samples, write_samples

CARD = "README.md"
EXAMPLE = "example.py"
SAMPLES = "samples"
FACTS = "actionbench_export.json"
BASE_FOLDER = "base"
EXPORT_SEEDS = (0, 1, 2, 3)


@dataclass(frozen=True)
class Licence:
    """The hub's licence id for the card, and what the card says about the exemplars'."""

    hub_id: str
    text: str


# The exemplars' licence decides what may be shared; keyed by the benchmark's name.
LICENCES = {
    "actionbench": Licence(
        "cc-by-nc-nd-4.0",
        "The exemplars are ActionBench's photos (Huang et al., CVPR 2024), licensed **CC BY-NC-ND 4.0**: "
        "non-commercial use only, and adapted material may not be shared. A model learned from them may count "
        "as adapted material: check the licence before uploading this folder anywhere public."),
    "mini": Licence(
        "apache-2.0",
        "The exemplars are rendered by ActionBench-Mini (figures drawn by the suite's own code, no photos), "
        "under the suite's licence, Apache-2.0, as is the mini world's text-to-image model in `base/`."),
}
OTHER_LICENCE = Licence(
    "other", "The exemplars are your own photos (a benchmark folder or `actionbench data add-action`): their "
             "licence is the photos' own. Set `license:` above before uploading.")

# Hub tags per artifact format (the hub's usual names), beside the common ones.
FORMAT_TAGS = {"layer-wise identifiers (P+, ADI)": ["textual-inversion", "p-plus"],
               "Custom Diffusion": ["custom-diffusion"], "LoRA (DreamBooth-LoRA)": ["lora", "dreambooth"],
               "fine-tuned UNet (DreamBooth)": ["dreambooth"],
               "textual inversion (Textual Inversion, ReVersion)": ["textual-inversion"]}


@dataclass
class Export:
    folder: Path
    card: Path
    example: Path
    grid: Path  # the samples' grid (the one image when there is one seed)


def export_unit(trained: TrainedUnit, out_dir: Path, *, prompt: str | None = None,
                seeds: tuple[int, ...] = EXPORT_SEEDS, device: str | None = None) -> Export:
    """Write the folder; refuses a ``out_dir`` that is not empty or lies inside the run's units."""
    out_dir = check_out_dir(out_dir, trained.run_dir)
    if out_dir.is_dir() and any(out_dir.iterdir()):
        raise ActionBenchError(f"{out_dir} is not empty", "export into a new folder")
    fmt = artifact_format(trained.artifact)
    prompt = prompt or default_prompt(trained.manifest)
    request = SampleRequest(prompt, tuple(seeds), trained.config.num_inference_steps, trained.config.guidance_scale)
    images = generate_samples(trained, request, device)
    with atomic_folder(out_dir) as build:
        shutil.copytree(trained.artifact, build)
        fmt.complete_copy(build)
        base = base_reference(trained, build)
        snippet = Snippet(base=base, artifact=".", prompt=fill_prompt(prompt, trained.artifact),
                          seed=request.seeds[0], steps=request.steps, guidance=request.guidance)
        written = write_samples(trained, request, images, build / SAMPLES)
        grid = (written.grid or written.images[0]).relative_to(build)
        scores = unit_scores(trained)
        atomic_write_text(build / EXAMPLE, snippet.render(fmt))
        atomic_write_text(build / CARD, model_card(trained, fmt, snippet, request, scores, grid.as_posix()))
        atomic_write_json(build / FACTS, export_facts(trained, fmt, request, scores))
        for path in build.rglob("*"):  # temporary files are private (0600); a folder to share is readable
            path.chmod(0o755 if path.is_dir() else 0o644)
    return Export(out_dir, out_dir / CARD, out_dir / EXAMPLE, out_dir / grid)


def default_prompt(manifest: dict[str, Any]) -> str:
    """The protocol's prompt for its first subject ("a cat {action}"): what the board's images show."""
    protocol = manifest.get("benchmark", {}).get("protocol", {})
    subjects = protocol.get("subjects") or []
    if not subjects:
        return "a photo of a person {action}"
    return protocol.get("prompt_template", "{subject} {action}").format(subject=subjects[0]["text"],
                                                                         action="{action}")


def base_reference(trained: TrainedUnit, build: Path) -> str:
    """What the snippet's ``from_pretrained`` reads: a hub id, ``./base`` (a shipped base, copied), or a path."""
    if trained.base.name in BASE_MODELS.names() and trained.base.folder is not None:
        shutil.copytree(trained.base.folder, build / BASE_FOLDER)
        return f"./{BASE_FOLDER}"
    return trained.base.name if trained.base.folder is None else str(trained.base.folder)


def unit_scores(trained: TrainedUnit) -> list[dict[str, Any]]:
    """The unit's scores as the run's board computes them: mean and 95% bootstrap CI over its images."""
    from actionbench.reports.leaderboard import column_labels, leaderboard, ordered_scores
    from actionbench.reports.load import load_runs

    data = load_runs([trained.run_dir])
    board = leaderboard(data)
    rows = board[(board["method"] == trained.unit.method) & (board["action"] == trained.action_name)]
    names = ordered_scores(rows["score"], data.infos)
    labels = column_labels(names, data.infos)
    by_name = {row["score"]: row for row in rows.to_dict("records")}
    return [{"score": name, "label": labels[name], "mean": by_name[name]["mean"], "ci_low": by_name[name]["ci_low"],
             "ci_high": by_name[name]["ci_high"], "n": by_name[name]["n"], "kind": by_name[name]["kind"],
             "higher_is_better": by_name[name]["higher_is_better"],
             "description": data.infos.get(name, {}).get("description", "")} for name in names]


def _value(value: float, kind: str) -> str:
    from actionbench.reports.compare import format_value

    return format_value(value, kind)


def scores_table(scores: list[dict[str, Any]]) -> str:
    if not scores:
        return "This unit has no scores in its run yet (run `actionbench run` again to score it).\n"
    lines = ["| score | mean | 95% CI | images | |", "|---|---|---|---|---|"]
    for row in scores:
        arrow = "higher is better" if row["higher_is_better"] else "lower is better"
        ci = "–" if math.isnan(row["mean"]) else f"[{_value(row['ci_low'], row['kind'])}, {_value(row['ci_high'], row['kind'])}]"
        name = row["label"] if row["label"] == row["score"] else f"{row['label']} (`{row['score']}`)"
        lines.append(f"| {name} | {_value(row['mean'], row['kind'])} | {ci} | {row['n']} | {arrow} |")
    return "\n".join(lines) + "\n"


def metadata(trained: TrainedUnit, fmt: ArtifactFormat) -> dict[str, Any]:
    """The hub's YAML front matter."""
    licence = LICENCES.get(trained.manifest.get("benchmark", {}).get("name", ""), OTHER_LICENCE)
    tags = ["actionbench", "action-customization", "text-to-image", "stable-diffusion", "diffusers",
            *FORMAT_TAGS.get(fmt.name, []), trained.unit.method.replace("_", "-")]
    meta: dict[str, Any] = {"library_name": "diffusers", "pipeline_tag": "text-to-image",
                            "license": licence.hub_id, "tags": list(dict.fromkeys(tags))}
    if trained.base.folder is None:  # a hub id: the hub links the model to its base
        meta = {"base_model": trained.base.name, **meta}
    if fmt.complete:
        meta["inference"] = False  # the hub's widget runs stock loaders only, not the artifact's own code
    return meta


def model_card(trained: TrainedUnit, fmt: ArtifactFormat, snippet: Snippet, request: SampleRequest,
               scores: list[dict[str, Any]], grid: str) -> str:
    manifest, unit = trained.manifest, trained.unit
    method_cls = METHODS.get(unit.method)
    benchmark = manifest.get("benchmark", {})
    description = manifest.get("action_descriptions", {}).get(trained.action_name, "")
    exemplars = len(manifest.get("action_exemplars", {}).get(trained.action_name, []))
    licence = LICENCES.get(benchmark.get("name", ""), OTHER_LICENCE)
    token = fmt.fill(trained.artifact)
    base_line = {True: f"ActionBench's shipped `{trained.base.name}` pipeline, copied into `base/`",
                 False: f"`{trained.base.name}`"}[snippet.base == f"./{BASE_FOLDER}"]
    settings = "\n".join(f"| `{key}` | `{json.dumps(value)}` |" for key, value in dataclasses.asdict(trained.config).items())
    percent = " Judgements in %." if any(row["kind"] == "binary" for row in scores) else ""
    seeds = ", ".join(str(s) for s in request.seeds)
    front = yaml.safe_dump(metadata(trained, fmt), sort_keys=False, allow_unicode=True)
    return f"""---
{front}---

# {unit.method}: the action "{trained.action_name}"

A learned action for text-to-image generation: **{trained.action_name}**{f' ({description})' if description else ''},
learned by **{unit.method}** ({method_cls.paper}) from {exemplars or 'the'} exemplar images of
{benchmark.get('name', '?')} (version {benchmark.get('version', '?')}), with ActionBench {__version__}.
Base model: {base_line}. Artifact format: {fmt.name}.

In a prompt, `{token}` stands for the action: `{fill_prompt('a corgi {action} on the moon', trained.artifact)}`.

## Use it

Loaded by {fmt.call}. This script (also `{EXAMPLE}`) needs only `torch` and `diffusers`; run it in this folder:

```python
{snippet.render(fmt).rstrip()}
```

It draws the first image of the samples below (seed {snippet.seed}), to within float rounding.
{fmt.note}

## Samples

![samples]({grid})

`{request.prompt}` with seeds {seeds}, {request.steps} steps, guidance {request.guidance:g}, drawn by the suite
(each image in `{SAMPLES}/` with a sidecar saying how). More: `actionbench generate RUN_DIR --method {unit.method}
--action {trained.action_name} --prompt "a corgi {{action}} on the moon" --seeds 0,1,2`.

## Scores

{scores_table(scores)}
Means over this unit's images in its run (protocol: {len(benchmark.get('protocol', {}).get('subjects', []))} subjects,
seeds {', '.join(str(s) for s in manifest.get('seeds', []))}).{percent} 95% percentile-bootstrap intervals over the
images (1,000 resamples, seed 0), as on the run's leaderboard.

## Settings

| setting | value |
|---|---|
{settings}

## Training data and licence

{licence.text}

## Reproduce

Trained and drawn by ActionBench {__version__} (git {manifest.get('git_commit') or 'unknown'}), run
`{Path(trained.run_dir).resolve()}`, unit `{unit.label}`, training key `{trained.train_key}`; base model
identity `{json.dumps(manifest.get('base_model'))}`. `{FACTS}` holds these facts for machines.
"""


def export_facts(trained: TrainedUnit, fmt: ArtifactFormat, request: SampleRequest,
                 scores: list[dict[str, Any]]) -> dict[str, Any]:
    return {"method": trained.unit.method, "action": trained.action_name, "artifact_format": fmt.name,
            "loading_call": fmt.call, "token": fmt.fill(trained.artifact),
            "run": str(Path(trained.run_dir).resolve()), "train_key": trained.train_key,
            "method_config": dataclasses.asdict(trained.config), "base_model": trained.manifest.get("base_model"),
            "benchmark": {k: trained.manifest.get("benchmark", {}).get(k) for k in ("name", "version")},
            "samples": {"prompt": request.prompt, "seeds": list(request.seeds), "num_inference_steps": request.steps,
                        "guidance_scale": request.guidance},
            "scores": [{key: None if isinstance(value, float) and math.isnan(value) else value
                        for key, value in row.items()} for row in scores],
            "actionbench_version": __version__}
