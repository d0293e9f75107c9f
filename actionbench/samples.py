"""New images from a trained unit of a finished run: any prompt, seeds, steps and guidance.

The unit is rebuilt from the run store alone: the method's settings and the base model as the
run's ``manifest.json`` recorded them, the artifact from ``units/<method>/<action>/artifact``.
Images are drawn by the method's own ``generate`` (what the run used for its board), written
atomically, each with a JSON sidecar holding everything needed to draw it again; several seeds also
get a grid. Nothing is ever written into the run's ``units/`` folder.
"""

from __future__ import annotations

import dataclasses
import math
import re
import shlex
import sys
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFont

from actionbench import __version__
from actionbench.base_models import BaseModel, resolve_base_model
from actionbench.config import from_dict
from actionbench.data.model import ACTION_PLACEHOLDER
from actionbench.errors import ActionBenchError
from actionbench.fileio import atomic_path, atomic_write_json, read_json
from actionbench.methods import METHODS
from actionbench.store import SHARED_ACTION, RunStore, Unit, is_current

SAMPLES_FOLDER = "samples"  # default output: RUN_DIR/samples/<method>/<action>/
GRID_CELL_MIN_PX = 128  # small images (mini: 32 px) are enlarged by an integer factor, nearest neighbour
GRID_GAP_PX = 4
GRID_LABEL_PX = 18
SLUG_MAX = 60


@dataclass(frozen=True)
class TrainedUnit:
    """A unit of a run whose training finished, with what its generation needs."""

    run_dir: Path
    unit: Unit
    manifest: dict[str, Any]
    config: Any  # the method's config dataclass, as the run resolved it
    base: BaseModel
    train_key: str

    @property
    def store(self) -> RunStore:
        return RunStore(self.run_dir)

    @property
    def artifact(self) -> Path:
        return self.store.artifact_dir(self.unit)

    @property
    def action_name(self) -> str:
        return self.unit.action or SHARED_ACTION


@dataclass(frozen=True)
class SampleRequest:
    """What to draw: ``prompt`` holds ``{action}``; steps and guidance are resolved (never None)."""

    prompt: str
    seeds: tuple[int, ...]
    steps: int
    guidance: float


@dataclass
class SampleSet:
    images: list[Path]
    sidecars: list[Path]
    grid: Path | None


def open_trained_unit(run_dir: str | Path, method: str, action: str) -> TrainedUnit:
    """Find ``method`` on ``action`` in the run and rebuild its settings and base model, or say what is wrong."""
    store = RunStore(run_dir)
    if not store.root.is_dir():
        raise ActionBenchError(f"run directory {run_dir} does not exist", "pass the folder of a run, e.g. runs/latest")
    manifest = store.manifest()
    units = store.units()
    methods = sorted({u.method for u in units})
    if method not in methods:
        raise ActionBenchError(f"method '{method}' is not in run {run_dir}",
                               f"choose one of {', '.join(methods) or '(none: the run has no units yet)'}")
    unit = Unit(method, action)
    if unit not in units and Unit(method, None) in units:
        unit = Unit(method, None)  # a reference method (plain) has one unit shared by every action
    if unit not in units:
        actions = sorted(u.action or SHARED_ACTION for u in units if u.method == method)
        raise ActionBenchError(f"method '{method}' has no unit for action '{action}' in run {run_dir}",
                               f"choose one of {', '.join(actions)}")
    marker = store.marker(unit, "train")
    if marker is None or not store.artifact_dir(unit).is_dir():
        raise ActionBenchError(f"{unit.label} has not finished training in run {run_dir}",
                               "resume the run with the command that started it, or choose a trained unit")
    if not is_current(manifest, unit, "train", marker):  # the settings below are not the ones it had
        raise ActionBenchError(
            f"{unit.label} in run {run_dir} is not the training its manifest records (a later 'run' changed "
            "the settings and did not redo this unit)",
            "finish it ('actionbench run' of this method and action with the run's settings), then try again")
    settings = manifest.get("method_configs", {}).get(method)
    if settings is None:
        raise ActionBenchError(f"run {run_dir} records no settings for method '{method}' in its manifest.json",
                               "re-run the method with this version of actionbench")
    config = from_dict(METHODS.get(method).config_cls, settings, f"settings of {method} in {store.manifest_path}")
    return TrainedUnit(Path(run_dir), unit, manifest, config, run_base_model(manifest, run_dir), marker.get("key", ""))


def run_base_model(manifest: dict[str, Any], run_dir: str | Path) -> BaseModel:
    """The base model the run trained on, refused when its model index changed since."""
    recorded = manifest.get("base_model") or {}
    base = resolve_base_model(recorded.get("name", ""))
    if recorded.get("index") != base.identity["index"]:
        raise ActionBenchError(
            f"base model '{base.name}' is not the one run {run_dir} was trained on (its model_index.json differs)",
            "restore the base model the run used")
    return base


def resolve_request(trained: TrainedUnit, prompt: str, seeds: list[int], steps: int | None,
                    guidance: float | None) -> SampleRequest:
    """Check the inputs; steps and guidance default to the run's (the protocol's) values."""
    if any(unicodedata.category(c) == "Cs" for c in prompt):  # bytes that were not UTF-8, surrogate-escaped
        raise ActionBenchError("the prompt holds bytes that are not UTF-8 text", "type the prompt again as UTF-8 text")
    if ACTION_PLACEHOLDER not in prompt:
        raise ActionBenchError(f"the prompt {prompt!r} has no {ACTION_PLACEHOLDER} placeholder",
                               'write where the action goes, e.g. "a corgi {action} on the moon"')
    if not seeds:
        raise ActionBenchError("no seed given", "pass --seeds 0 or a comma-separated list such as 0,1,2")
    steps = trained.config.num_inference_steps if steps is None else steps
    guidance = trained.config.guidance_scale if guidance is None else guidance
    if steps is None or steps < 1:
        raise ActionBenchError(f"--steps must be a positive number of sampling steps, not {steps}", "pass e.g. --steps 50")
    if guidance is None or not math.isfinite(guidance) or guidance < 0:
        raise ActionBenchError(f"--guidance must be a finite number >= 0, not {guidance}", "pass e.g. --guidance 7.5")
    return SampleRequest(prompt, tuple(int(s) for s in seeds), int(steps), float(guidance))


def generate_samples(trained: TrainedUnit, request: SampleRequest, device: str | None = None) -> list[Image.Image]:
    """One image per seed, drawn by the method's own ``generate`` on a fresh base pipeline."""
    from actionbench.plan import resolve_device

    config = dataclasses.replace(trained.config, num_inference_steps=request.steps,
                                 guidance_scale=request.guidance)
    device = resolve_device(device or trained.manifest.get("config", {}).get("device", "auto"))
    method = METHODS.get(trained.unit.method)(cache_dir=None)  # nothing is written into the run
    pipe = trained.base.load(device=device)
    cut = prompt_cut(pipe.tokenizer, request.prompt)
    if cut:
        print(f"actionbench: note: {cut}", file=sys.stderr)
    seeds = list(request.seeds)
    return method.generate(pipe, trained.artifact, [request.prompt] * len(seeds), seeds, config)


def prompt_cut(tokenizer, prompt: str) -> str | None:
    """Refuse a prompt whose action the text encoder would never read (the words before ``{action}``
    fill its context); say when the end of a prompt is cut. Either way the encoder truncates silently.
    The action's own tokens are counted as one, the fewest a method's identifier takes."""
    readable = tokenizer.model_max_length - 2  # the start and end tokens
    before, _, after = prompt.partition(ACTION_PLACEHOLDER)
    used = len(tokenizer(before.strip(), add_special_tokens=False).input_ids)
    if used >= readable:
        raise ActionBenchError(f"the prompt has {used} tokens before {ACTION_PLACEHOLDER} and the text encoder reads "
                               f"{readable}: the action would be cut off", f"shorten the words before {ACTION_PLACEHOLDER}")
    total = used + 1 + len(tokenizer(after.strip(), add_special_tokens=False).input_ids)
    if total > readable:
        return (f"the prompt is at least {total} tokens long and the text encoder reads {readable}: "
                "its end is cut (the action is read)")
    return None


def slug(text: str) -> str:
    """A file-name-safe form of a prompt: lowercase words joined by dashes, ``{action}`` as "action"."""
    words = re.findall(r"[a-z0-9]+", text.lower())
    return "-".join(words)[:SLUG_MAX].strip("-") or "prompt"


def _settings(request: SampleRequest) -> str:
    return f"n{request.steps}-g" + f"{request.guidance:g}".replace(".", "p")


def image_stem(request: SampleRequest, seed: int) -> str:
    """``<prompt slug>-s<seed>-n<steps>-g<guidance>``: other settings never overwrite an image."""
    return f"{slug(request.prompt)}-s{seed}-{_settings(request)}"


def grid_stem(request: SampleRequest) -> str:
    seeds = "_".join(str(s) for s in request.seeds) if len(request.seeds) <= 8 else f"{len(request.seeds)}seeds"
    return f"{slug(request.prompt)}-grid-s{seeds}-{_settings(request)}"


def check_out_dir(out_dir: Path, run_dir: Path) -> Path:
    """The user's folder, refused when it is (inside) the run's units, where the run's results live."""
    out_dir = Path(out_dir).expanduser().resolve()
    units = (Path(run_dir) / "units").resolve()
    if out_dir == units or units in out_dir.parents:
        raise ActionBenchError(f"--out {out_dir} is inside the run's units folder, which holds the run's results",
                               f"choose a folder outside {units}")
    if out_dir.exists() and not out_dir.is_dir():
        raise ActionBenchError(f"--out {out_dir} is a file", "choose a folder")
    return out_dir


def refuse_clashes(trained: TrainedUnit, request: SampleRequest, out_dir: Path) -> None:
    """An image file in ``out_dir`` is named by the prompt's slug, the seed, steps and guidance, so
    another run, unit, training or prompt of the same slug would replace it. Refused in one line,
    before anything is drawn; the same image drawn again (its sidecar says so) is simply rewritten."""
    for seed in request.seeds:
        stem = image_stem(request, seed)
        if not (out_dir / f"{stem}.png").exists() and not (out_dir / f"{stem}.json").exists():
            continue
        try:
            previous = read_json(out_dir / f"{stem}.json")
        except (OSError, ValueError):
            previous = {}
        previous = previous if isinstance(previous, dict) else {}
        mine = sidecar_identity(trained, request, seed)
        if {key: previous.get(key) for key in mine} != mine:
            drawn = (f"drawn by {previous.get('method')} on {previous.get('action')} of {previous.get('run')} "
                     f"from the prompt {previous.get('prompt')!r}") if previous else "without a readable sidecar"
            raise ActionBenchError(f"--out {out_dir} already holds {stem}.png, {drawn}",
                                   "choose another --out (or leave --out out: each unit has its own folder)")


def sidecar_identity(trained: TrainedUnit, request: SampleRequest, seed: int) -> dict[str, Any]:
    """What makes an image this one: the sidecar's fields that name the unit, its training and the draw."""
    return {"run": str(Path(trained.run_dir).resolve()), "method": trained.unit.method, "action": trained.action_name,
            "train_key": trained.train_key, "prompt": request.prompt, "seed": seed,
            "num_inference_steps": request.steps, "guidance_scale": request.guidance}


def generate_command(trained: TrainedUnit, request: SampleRequest, seeds: tuple[int, ...]) -> str:
    return " ".join(["actionbench", "generate", shlex.quote(str(trained.run_dir)), "--method", trained.unit.method,
                     "--action", trained.action_name, "--prompt", shlex.quote(request.prompt),
                     "--seeds", ",".join(str(s) for s in seeds), "--steps", str(request.steps),
                     "--guidance", f"{request.guidance:g}"])


def sidecar(trained: TrainedUnit, request: SampleRequest, seed: int, image_file: str) -> dict[str, Any]:
    """Everything needed to draw the image again, with or without the suite."""
    from actionbench.loading import artifact_format, fill_prompt
    from actionbench.manifest import package_versions

    try:
        fmt = artifact_format(trained.artifact)
        filled, loader = fill_prompt(request.prompt, trained.artifact), fmt.call
    except ActionBenchError:
        filled, loader = None, None
    return {
        "image": image_file, **sidecar_identity(trained, request, seed), "filled_prompt": filled,
        "artifact": str(trained.artifact.resolve()), "artifact_loader": loader,
        "method_config": dataclasses.asdict(trained.config), "base_model": trained.manifest.get("base_model"),
        "benchmark": {k: trained.manifest.get("benchmark", {}).get(k) for k in ("name", "version")},
        "sampling": "the method's generate: one torch.Generator per image, seeded with the seed, on the CPU",
        "command": generate_command(trained, request, (seed,)),
        "actionbench_version": __version__, "packages": package_versions(),
    }


def write_samples(trained: TrainedUnit, request: SampleRequest, images: list[Image.Image], out_dir: Path) -> SampleSet:
    """Each image as PNG with its sidecar; several images also as one grid (``<prompt>-grid-...png``)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = SampleSet([], [], None)
    for seed, image in zip(request.seeds, images):
        stem = image_stem(request, seed)
        with atomic_path(out_dir / f"{stem}.png") as temp:
            image.save(temp, format="PNG")
        atomic_write_json(out_dir / f"{stem}.json", sidecar(trained, request, seed, f"{stem}.png"))
        written.images.append(out_dir / f"{stem}.png")
        written.sidecars.append(out_dir / f"{stem}.json")
    if len(images) > 1:
        written.grid = out_dir / f"{grid_stem(request)}.png"
        with atomic_path(written.grid) as temp:
            sample_grid(images, [f"seed {s}" for s in request.seeds]).save(temp, format="PNG")
    return written


def _font() -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=GRID_LABEL_PX - 4)
    except TypeError:  # Pillow < 10.1
        return ImageFont.load_default()


def sample_grid(images: list[Image.Image], labels: list[str], columns: int | None = None) -> Image.Image:
    """Images side by side (at most 8 per row) with a label under each; small ones enlarged, nearest neighbour."""
    columns = columns or min(len(images), 8)
    side = max(max(image.size) for image in images)
    factor = max(1, math.ceil(GRID_CELL_MIN_PX / side))
    cell = side * factor
    rows = math.ceil(len(images) / columns)
    grid = Image.new("RGB", (columns * cell + (columns + 1) * GRID_GAP_PX,
                             rows * (cell + GRID_LABEL_PX) + (rows + 1) * GRID_GAP_PX), (255, 255, 255))
    draw, font = ImageDraw.Draw(grid), _font()
    for i, (image, label) in enumerate(zip(images, labels)):
        left = GRID_GAP_PX + (i % columns) * (cell + GRID_GAP_PX)
        top = GRID_GAP_PX + (i // columns) * (cell + GRID_LABEL_PX + GRID_GAP_PX)
        enlarged = image.convert("RGB").resize((image.width * factor, image.height * factor), Image.Resampling.NEAREST)
        grid.paste(enlarged, (left + (cell - enlarged.width) // 2, top + (cell - enlarged.height) // 2))
        draw.text((left + cell // 2, top + cell + GRID_LABEL_PX // 2), label, fill=(0, 0, 0), font=font, anchor="mm")
    return grid
