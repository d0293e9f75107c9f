"""What every mini training script shares: work folder, seeding, checkpoints, resuming, logging."""

from __future__ import annotations

import copy
import io
import math
import pickle
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from actionbench.errors import ActionBenchError
from actionbench.fileio import atomic_write_bytes, nearest_existing
from actionbench.paths import cache_dir

CHECKPOINT = "checkpoint.pt"
# the modules each component's checkpoint holds, so a work folder names the training it belongs to
CHECKPOINT_MODULES = {"vae": {"vae"}, "unet": {"unet", "text_encoder"}, "clip": {"clip"}, "keypoints": {"net"},
                      "judge": {"judge"}}
RESUMED_AS_TRAINED = ("batch_size", "lr", "seed", "init")  # recorded in a checkpoint; a resume must repeat them
DAMAGED = (OSError, EOFError, RuntimeError, ValueError, pickle.UnpicklingError)  # what torch.load raises for them


def default_workdir(component: str) -> Path:
    return cache_dir("mini", "train", component)


@dataclass
class TrainSettings:
    steps: int
    batch_size: int
    lr: float
    seed: int = 0
    warmup: int = 100
    minutes: float | None = None  # stop (and checkpoint) after this much wall time; resume later
    save_every: int = 200
    eval_every: int | None = None  # None: evaluate at every save
    log_every: int = 50
    ema_decay: float | None = None
    weight_decay: float = 0.0
    threads: int | None = None
    init: str | None = None  # exported weights to start from instead of random ones (keypoints, unet)
    device: str = "cpu"  # where the modules train (unet only: "cuda" on a GPU machine)


@dataclass
class Trainer:
    """Owns the modules, the optimizer, the EMA copies and the step counter of one training."""

    workdir: Path
    modules: dict[str, torch.nn.Module]
    settings: TrainSettings
    step: int = 0
    ema: dict[str, torch.nn.Module] = field(default_factory=dict)
    history: list[dict] = field(default_factory=list)

    def __post_init__(self):
        self.workdir = Path(self.workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        if self.settings.threads:
            torch.set_num_threads(self.settings.threads)
        torch.manual_seed(self.settings.seed)
        for module in self.modules.values():
            module.to(self.settings.device)
        parameters = [p for m in self.modules.values() for p in m.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(parameters, lr=self.settings.lr, weight_decay=self.settings.weight_decay)
        if self.settings.ema_decay:
            self.ema = {name: copy.deepcopy(m).requires_grad_(False) for name, m in self.modules.items()}
        self._resume()

    # --- schedule, randomness -------------------------------------------------------------------------
    def lr_at(self, step: int) -> float:
        """Linear warmup, then cosine decay to 10% of the peak."""
        s = self.settings
        if step < s.warmup:
            return s.lr * (step + 1) / s.warmup
        progress = min(1.0, (step - s.warmup) / max(1, s.steps - s.warmup))
        return s.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))

    def rng(self) -> np.random.Generator:
        """This step's generator: batches depend on (seed, step) only, so resuming changes nothing."""
        return np.random.default_rng([self.settings.seed, self.step])

    def torch_generator(self) -> torch.Generator:
        return torch.Generator().manual_seed(self.settings.seed * 1_000_003 + self.step)

    # --- the loop -------------------------------------------------------------------------------------------
    def run(self, step_fn: Callable[["Trainer"], dict[str, float]],
            evaluate: Callable[["Trainer"], dict[str, float]] | None = None) -> None:
        s = self.settings
        started = time.time()
        self.log(f"start at step {self.step} of {s.steps}")
        running: dict[str, float] = {}
        count = 0
        while self.step < s.steps:
            for group in self.optimizer.param_groups:
                group["lr"] = self.lr_at(self.step)
            for module in self.modules.values():
                module.train()
            values = step_fn(self)
            self._update_ema()
            self.step += 1
            count += 1
            for key, value in values.items():
                running[key] = running.get(key, 0.0) + float(value)
            if self.step % s.log_every == 0 or self.step == s.steps:
                elapsed = time.time() - started
                summary = " ".join(f"{k} {v / count:.4f}" for k, v in running.items())
                self.log(f"step {self.step} {summary} lr {self.lr_at(self.step):.2e} "
                         f"{elapsed / max(1, count):.2f}s/step (this session)")
                self.history.append({"step": self.step, **{k: v / count for k, v in running.items()}})
            if self.step % s.log_every == 0:
                running, count, started = {}, 0, time.time()
            if self.step % s.save_every == 0 or self.step == s.steps:
                if evaluate is not None and (self.step % (s.eval_every or s.save_every) == 0 or self.step == s.steps):
                    metrics = evaluate(self)
                    self.log("eval " + " ".join(f"{k} {v:.4f}" for k, v in metrics.items()))
                self.save()
            if s.minutes is not None and time.time() - self._session_start > s.minutes * 60:
                self.save()
                self.log(f"time limit of {s.minutes} minutes reached at step {self.step}; re-run to resume")
                return
        self.log("done")

    @torch.no_grad()
    def _update_ema(self) -> None:
        if not self.ema:
            return
        assert self.settings.ema_decay is not None  # self.ema exists only when it is set
        decay = min(self.settings.ema_decay, (1 + self.step) / (10 + self.step))
        for name, module in self.modules.items():
            for ema_p, p in zip(self.ema[name].parameters(), module.parameters()):
                ema_p.mul_(decay).add_(p.detach(), alpha=1 - decay)

    def final(self, name: str) -> torch.nn.Module:
        """The module to export: its EMA copy when there is one."""
        return (self.ema or self.modules)[name].eval()

    # --- checkpoints and logs ---------------------------------------------------------------------------
    @property
    def done(self) -> bool:
        return self.step >= self.settings.steps

    def save(self) -> None:
        state = {"step": self.step, "history": self.history, "optimizer": self.optimizer.state_dict(),
                 "settings": recorded_settings(self.settings),
                 "modules": {k: m.state_dict() for k, m in self.modules.items()},
                 "ema": {k: m.state_dict() for k, m in self.ema.items()}}
        buffer = io.BytesIO()
        torch.save(state, buffer)
        atomic_write_bytes(self.workdir / CHECKPOINT, buffer.getvalue())

    def _resume(self) -> None:
        self._session_start = time.time()
        path = self.workdir / CHECKPOINT
        if not path.is_file():
            return
        state = read_checkpoint(path)
        for key, module in self.modules.items():
            module.load_state_dict(state["modules"][key])
        for key, module in self.ema.items():
            if key in state.get("ema", {}):
                module.load_state_dict(state["ema"][key])
        self.optimizer.load_state_dict(state["optimizer"])
        self.step = state["step"]
        self.history = state.get("history", [])
        self.log(f"resumed from {path} at step {self.step}")

    def log(self, message: str) -> None:
        line = f"{time.strftime('%H:%M:%S')} {message}"
        print(line, flush=True)
        with open(self.workdir / "log.txt", "a") as handle:
            handle.write(line + "\n")


def recorded_settings(settings: TrainSettings) -> dict:
    """What a checkpoint records of its settings, so a resume with other ones is caught (``check_workdir``)."""
    return {name: getattr(settings, name) for name in ("steps", *RESUMED_AS_TRAINED)}


def read_checkpoint(path: Path) -> dict:
    """A checkpoint's contents; a damaged one (cut short, or another file under its name) is one line
    naming it rather than torch's traceback."""
    fix = "delete it to start this training afresh, or give a new --workdir"
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
    except DAMAGED as error:
        reason = " ".join(str(error).split(". ")[0].split())
        raise ActionBenchError(f"{path} cannot be read ({reason})", fix) from error
    if not isinstance(state, dict) or not isinstance(state.get("modules"), dict):
        raise ActionBenchError(f"{path} is not a checkpoint of a mini training", fix)
    return state


def check_workdir(workdir: Path, component: str, settings: TrainSettings) -> None:
    """Refuse, before any data is made, a work folder this training cannot resume: a file, another
    component's checkpoint, a damaged one, or one trained with another batch size, learning rate, seed
    or --init (resuming would mix two trainings). A larger --steps extends a training (the cosine
    schedule is stretched to the new end from the step reached) and is allowed; fewer steps are not.
    --minutes, --threads and --device only say how this session runs. Checkpoints written before the
    settings were recorded resume with the settings given."""
    existing = nearest_existing(workdir)
    if not existing.is_dir():
        raise ActionBenchError(f"--workdir {workdir}: {existing} is a file, not a folder",
                               "give a new folder or this component's work folder")
    path = workdir / CHECKPOINT
    if not path.exists():
        return
    state = read_checkpoint(path)
    found = next((name for name, modules in CHECKPOINT_MODULES.items() if modules == set(state["modules"])), None)
    if found != component:
        raise ActionBenchError(f"{path} is a checkpoint of the {found or 'unknown'} training, not of {component}",
                               f"give --component {component} a new --workdir")
    changed = changed_settings(state.get("settings", {}), recorded_settings(settings))
    if changed:
        raise ActionBenchError(f"{path} was trained with other settings ({changed})",
                               "re-run with its settings to resume it, or give a new --workdir")


def changed_settings(old: dict, new: dict) -> str:
    """``--lr 0.002 -> 0.001, ...`` for the recorded settings a resume would change ("" for none)."""
    changes = [f"--{name.replace('_', '-')} {old[name]} -> {new[name]}" for name in RESUMED_AS_TRAINED
               if name in old and old[name] != new[name]]
    if new["steps"] < old.get("steps", new["steps"]):
        changes.insert(0, f"--steps {old['steps']} -> {new['steps']}")
    return ", ".join(changes)


def to_unit_range(images: np.ndarray) -> torch.Tensor:
    """uint8 (N, H, W, 3) -> float (N, 3, H, W) in [-1, 1]."""
    return torch.from_numpy(images).permute(0, 3, 1, 2).float().div(127.5).sub(1.0)


def export_small_net(net: torch.nn.Module, config: dict, folder: Path) -> Path:
    """Write a scorer network as ``config.json`` + fp16 ``model.safetensors`` (BatchNorm statistics
    stay fp32; fp16 elsewhere changes outputs by far less than a pixel or a class)."""
    import json

    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(config))
    state = {k: (v.half() if v.is_floating_point() and "running" not in k else v).contiguous()
             for k, v in net.state_dict().items()}
    save_file(state, str(folder / "model.safetensors"))
    return folder
