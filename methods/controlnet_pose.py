"""ControlNet on an exemplar's pose: an oracle upper bound for pose agreement (the paper's ControlNet row).

Zhang et al., "Adding Conditional Control to Text-to-Image Diffusion Models", ICCV 2023, through
diffusers' ``StableDiffusionControlNetPipeline`` with ControlNet-OpenPose weights that the user
supplies (``controlnet_model``: a local ``ControlNetModel`` folder or a hub id, e.g.
``lllyasviel/sd-controlnet-openpose`` for SD 1.5); nothing can be downloaded here, so without it the
method is refused at planning with one line saying so.

"Training" reads each exemplar's pose with the run's pose estimator (``pose_backend``, from
:mod:`actionbench.perception.pose_backends`; mediapipe by default) on the exemplar as the suite
preprocesses it (pad policy, at the generation size) and draws it as an OpenPose skeleton: the 18
OpenPose joints (COCO-17 plus the neck, the shoulders' midpoint), OpenPose's limb order and colours,
limbs at 60% brightness on black, as the ControlNet-OpenPose annotator draws them. The artifact holds
those skeletons (``poses/*.png``) and ``actionbench.json``. Image ``(prompt, seed)`` is conditioned
on skeleton :func:`skeleton_index` ``= hash(prompt, seed) mod n`` (our choice: deterministic,
independent of batching, and spread over every exemplar: ``seed mod n`` used only exemplars 1-2 of 10
with the protocol's seeds 0, 1, 2). The generate interface returns images only, so the choice is
recorded by being recomputable: an image's row in ``images.jsonl`` holds its ``prompt`` and
``generator_seed``, and :func:`skeleton_for` names the skeleton file it was drawn on. ``{action}`` is
filled with the action's description in words (our choice: the pose does the action, the words help
the subject; set ``describe_action=false`` for the pose alone).
"""

from __future__ import annotations

import os
import weakref
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from actionbench.data import Action, fill_action
from actionbench.data.preprocess import POLICY, exemplar_image
from actionbench.errors import ActionBenchError, Unavailable, unknown_name
from actionbench.fileio import stable_hash
from actionbench.imageio import open_rgb
from actionbench.methods import METHODS
from actionbench.methods.base import Method, MethodConfig, generation_setting
from actionbench.methods.generation import sample_images
from actionbench.methods.training import native_resolution, read_artifact_info, require_sd_like, write_artifact_info

POSES_FOLDER = "poses"
# OpenPose's 18 body joints, each from COCO-17 (None: the neck, the midpoint of the shoulders).
OPENPOSE_FROM_COCO17 = (0, None, 6, 8, 10, 5, 7, 9, 12, 14, 16, 11, 13, 15, 2, 1, 4, 3)
OPENPOSE_LIMBS = ((1, 2), (1, 5), (2, 3), (3, 4), (5, 6), (6, 7), (1, 8), (8, 9), (9, 10), (1, 11), (11, 12),
                  (12, 13), (1, 0), (0, 14), (14, 16), (0, 15), (15, 17))
OPENPOSE_COLOURS = ((255, 0, 0), (255, 85, 0), (255, 170, 0), (255, 255, 0), (170, 255, 0), (85, 255, 0),
                    (0, 255, 0), (0, 255, 85), (0, 255, 170), (0, 255, 255), (0, 170, 255), (0, 85, 255),
                    (0, 0, 255), (85, 0, 255), (170, 0, 255), (255, 0, 255), (255, 0, 170), (255, 0, 85))
MIN_JOINTS = 4  # an exemplar whose skeleton has fewer visible joints is not used


def missing_weights_error() -> Unavailable:
    return Unavailable(
        "controlnet_pose needs ControlNet-OpenPose weights and controlnet_pose.controlnet_model is not set",
        "pass --set controlnet_pose.controlnet_model=PATH_OR_HUB_ID (a diffusers ControlNetModel for your base, "
        "e.g. lllyasviel/sd-controlnet-openpose for SD 1.5), or leave controlnet_pose out of --methods")


@dataclass
class ControlNetPoseConfig(MethodConfig):
    controlnet_model: str | None = None  # your ControlNet-OpenPose weights (no default: none can be downloaded)
    pose_backend: str = "mediapipe"  # reads the exemplars' poses (the suite's photo pose estimator)
    min_visibility: float = 0.5  # joints less visible than this are not drawn (our choice)
    describe_action: bool = True  # fill {action} with the action's description (our choice, see above)
    conditioning_scale: float = generation_setting(1.0)  # diffusers' controlnet_conditioning_scale default


def openpose_joints(pose, min_visibility: float) -> list[tuple[float, float] | None]:
    """The 18 OpenPose joints of a COCO-17 pose, None where not visible enough."""
    keypoints, visibility = np.asarray(pose.keypoints, dtype=float), np.asarray(pose.visibility, dtype=float)
    joints = []
    for coco in OPENPOSE_FROM_COCO17:
        if coco is None:  # the neck: both shoulders needed
            if min(visibility[5], visibility[6]) < min_visibility:
                joints.append(None)
            else:
                joints.append(tuple((keypoints[5] + keypoints[6]) / 2))
        else:
            joints.append(tuple(keypoints[coco]) if visibility[coco] >= min_visibility else None)
    return joints


def draw_openpose(joints: list[tuple[float, float] | None], size: int) -> Image.Image:
    """An OpenPose-style skeleton on black, ``size`` x ``size`` (line widths scale with the size)."""
    canvas = Image.new("RGB", (size, size), (0, 0, 0))
    draw = ImageDraw.Draw(canvas)
    width = max(1, round(8 * size / 512))  # the annotator's limbs are ellipses 2 x stickwidth 4 wide at 512 px
    radius = max(1, round(4 * size / 512))
    for (start, end), colour in zip(OPENPOSE_LIMBS, OPENPOSE_COLOURS):
        if joints[start] is not None and joints[end] is not None:
            draw.line([joints[start], joints[end]], fill=tuple(int(c * 0.6) for c in colour), width=width)
    for joint, colour in zip(joints, OPENPOSE_COLOURS):
        if joint is not None:
            x, y = joint
            draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=colour)
    return canvas


def skeleton_index(prompt: str, seed: int, count: int) -> int:
    """Which of ``count`` skeletons image ``(prompt, seed)`` is drawn on: a hash of the request (the
    prompt names the subject; the generator seed, the protocol seed and image index), uniform over all."""
    return int(stable_hash(["controlnet_pose skeleton", prompt, int(seed)], 8), 16) % count


def skeleton_for(artifact: Path, prompt: str, seed: int) -> str:
    """The skeleton file (relative to the artifact) of the image generated for ``(prompt, seed)``:
    ``prompt`` and ``generator_seed`` of the image's ``images.jsonl`` row."""
    poses = read_artifact_info(artifact)["poses"]
    return poses[skeleton_index(prompt, seed, len(poses))]["file"]


def _is_local(reference: str) -> bool:
    return Path(reference).expanduser().exists() or reference.startswith((".", "/", "~")) or reference.count("/") != 1


@METHODS.register("controlnet_pose")
class ControlNetPose(Method):
    """Oracle: ControlNet-OpenPose conditioned on an exemplar's pose; needs user-supplied weights."""

    name = "controlnet_pose"
    paper = "Zhang et al., Adding Conditional Control to Text-to-Image Diffusion Models, ICCV 2023"
    config_cls = ControlNetPoseConfig

    def check(self, action: Action, config: ControlNetPoseConfig) -> None:
        super().check(action, config)
        if not config.controlnet_model:
            raise missing_weights_error()
        reference = config.controlnet_model
        if _is_local(reference):
            folder = Path(reference).expanduser()
            if not (folder / "config.json").is_file():
                raise ActionBenchError(f"ControlNet weights folder {folder} has no config.json",
                                       "point controlnet_pose.controlnet_model at a folder written by "
                                       "ControlNetModel.save_pretrained, or at a hub id")
        elif os.environ.get("HF_HUB_OFFLINE") == "1" and not _in_hub_cache(reference):
            raise ActionBenchError(f"ControlNet weights '{reference}' are not in the local cache and HF_HUB_OFFLINE=1",
                                   "download them on a machine with network access, or pass a local folder")
        from actionbench.perception import POSE_BACKENDS

        if config.pose_backend not in POSE_BACKENDS.names():
            raise unknown_name("pose backend", config.pose_backend, POSE_BACKENDS.names())

    def train(self, base, action: Action, config: ControlNetPoseConfig, out_dir: Path) -> Path:
        from actionbench.perception import POSE_BACKENDS

        require_sd_like(base)
        controlnet = load_controlnet(config.controlnet_model, base)  # fail now, not at generation
        del controlnet
        size = native_resolution(base)
        photos = [exemplar_image(e, size) for e in action.exemplars]
        backend = POSE_BACKENDS.get(config.pose_backend)()
        try:
            poses = backend.estimate(photos)
        finally:
            getattr(backend, "close", lambda: None)()
        out_dir = Path(out_dir)
        (out_dir / POSES_FOLDER).mkdir(parents=True, exist_ok=True)
        used, skipped = [], []
        for exemplar, pose in zip(action.exemplars, poses):
            joints = openpose_joints(pose, config.min_visibility) if pose is not None else []
            if sum(j is not None for j in joints) < MIN_JOINTS:
                skipped.append(exemplar.image_path.name)
                continue
            name = f"{len(used):02d}-{exemplar.image_id}.png"
            draw_openpose(joints, size).save(out_dir / POSES_FOLDER / name)
            used.append({"file": f"{POSES_FOLDER}/{name}", "exemplar": exemplar.image_path.name})
        if not used:
            raise ActionBenchError(
                f"pose backend '{config.pose_backend}' found no person in any exemplar of action '{action.name}'",
                "check the photos show a whole person, or choose another pose_backend")
        write_artifact_info(out_dir, {
            "method": self.name, "identifier": action.description if config.describe_action else "",
            "controlnet_model": config.controlnet_model, "pose_backend": config.pose_backend,
            "resolution": size, "preprocessing": POLICY, "poses": used, "skipped_exemplars": skipped})
        return out_dir

    def generate(self, base, artifact: Path, prompts: list[str], seeds: list[int],
                 config: ControlNetPoseConfig) -> list[Image.Image]:
        info = read_artifact_info(artifact)
        pipe = controlnet_pipeline(base, info["controlnet_model"])
        poses = [open_rgb(Path(artifact) / entry["file"]) for entry in info["poses"]]
        filled = [fill_action(p, info["identifier"]) for p in prompts]
        images: list[Image.Image] = []
        step = max(1, config.generation_batch_size)
        for start in range(0, len(prompts), step):
            chunk_seeds = seeds[start:start + step]
            chosen = [poses[skeleton_index(p, s, len(poses))] for p, s in zip(prompts[start:start + step], chunk_seeds)]
            conditioned = _Conditioned(pipe, chosen, config.conditioning_scale)
            images.extend(sample_images(conditioned, filled[start:start + step], chunk_seeds, config))
        return images


def _in_hub_cache(repo_id: str) -> bool:
    from diffusers import ControlNetModel

    try:
        ControlNetModel.load_config(repo_id, local_files_only=True)
        return True
    except Exception:  # noqa: BLE001  any failure means: not usable offline
        return False


def load_controlnet(reference: str, base):
    """The user's ControlNet, in the base's dtype and device; refused when it does not fit the base."""
    from diffusers import ControlNetModel

    try:
        controlnet = ControlNetModel.from_pretrained(str(Path(reference).expanduser()) if _is_local(reference)
                                                     else reference, torch_dtype=base.unet.dtype)
    except (OSError, ValueError) as error:
        raise ActionBenchError(f"ControlNet weights '{reference}' cannot be loaded ({' '.join(str(error).split())[:200]})",
                               "pass a diffusers ControlNetModel folder or hub id") from error
    if controlnet.config.cross_attention_dim != base.unet.config.cross_attention_dim:
        raise ActionBenchError(
            f"ControlNet '{reference}' was made for text features of width {controlnet.config.cross_attention_dim}, "
            f"the base model has {base.unet.config.cross_attention_dim}",
            "use the ControlNet-OpenPose trained for your base (SD 1.x or SD 2.x)")
    return controlnet.to(base.device)


_PIPELINES: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def controlnet_pipeline(base, reference: str):
    """A ControlNet pipeline sharing ``base``'s components; built once per base pipeline."""
    from diffusers import StableDiffusionControlNetPipeline

    cached = _PIPELINES.get(base)
    if cached is None or cached[0] != reference:
        pipe = StableDiffusionControlNetPipeline.from_pipe(base, controlnet=load_controlnet(reference, base))
        pipe.set_progress_bar_config(disable=True)
        cached = (reference, pipe)
        _PIPELINES[base] = cached
    return cached[1]


class _Conditioned:
    """The ControlNet pipeline with this batch's pose images bound, so :func:`sample_images` (one
    generator per image) drives it like any other pipeline."""

    def __init__(self, pipe, images: list[Image.Image], scale: float):
        self._pipe, self._images, self._scale = pipe, images, scale

    def __getattr__(self, name):
        return getattr(self._pipe, name)

    def __call__(self, **kwargs):
        return self._pipe(image=self._images, controlnet_conditioning_scale=self._scale, **kwargs)
