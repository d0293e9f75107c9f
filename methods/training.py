"""What every trainable method shares, one module per concern; this module keeps the artifacts'
bookkeeping and re-exports the rest, so ``from actionbench.methods.training import ...`` keeps working.

- :mod:`~actionbench.methods.training_data`: exemplars encoded once, captions, the draw order;
- :mod:`~actionbench.methods.training_objective`: noise schedule, timesteps, the denoising loss;
- :mod:`~actionbench.methods.training_loop`: precision and memory options, the optimiser, and the
  one optimisation loop (with its one hook, a gradient transform: ADI's mask);
- here: the base model's fingerprint, loading an artifact once, an artifact's ``actionbench.json``.

Seeding is :func:`actionbench.seeding.seed_all`, the stages' own.
"""

from __future__ import annotations

from actionbench.errors import ActionBenchError
from actionbench.methods.training_data import (  # noqa: F401  (re-exported)
    TEMPLATE_SLOT,
    ExemplarLatents,
    ExemplarSampler,
    TrainingImages,
    add_placeholder_tokens,
    check_templates,
    encode_exemplars,
    encode_images,
    encode_images_batched,
    encode_prompts,
    fill_template,
    native_resolution,
    pil_to_tensor,
    training_prompts,
    training_resolution,
)
from actionbench.methods.training_loop import (  # noqa: F401  (re-exported)
    GradientHook,
    MicroLoss,
    MicroLosses,
    Optimisation,
    SplitMicroStep,
    Update,
    apply_memory_options,
    autocast,
    check_training_options,
    freeze,
    make_optimizer,
    make_scaler,
    optimisation,
    run_updates,
    scaled_learning_rate,
    train_loop,
    update,
)
from actionbench.methods.training_objective import (  # noqa: F401  (re-exported)
    DrawnBatch,
    batch_losses,
    denoising_loss,
    draw_batch,
    fixed_evaluation_loss,
    mean_losses,
    part_errors,
    part_means,
    prediction_and_target,
    require_sd_like,
    sample_timesteps,
    training_scheduler,
)
from actionbench.seeding import seed_all  # noqa: F401  (re-exported)


def model_fingerprint(pipe) -> str:
    """A short hash naming the base model: its source and a few of its weights (cheap, exact)."""
    import hashlib

    digest = hashlib.sha256(str(pipe.config.get("_name_or_path", "")).encode())
    digest.update(str(dict(pipe.unet.config)).encode())
    for tensor in (pipe.unet.conv_in.weight, pipe.unet.conv_out.weight,
                   pipe.text_encoder.get_input_embeddings().weight[:64], pipe.vae.decoder.conv_out.weight):
        digest.update(tensor.detach().float().cpu().numpy().tobytes())
    return digest.hexdigest()[:16]


def load_once(pipe, artifact, load) -> None:
    """Run ``load()`` (put an artifact into ``pipe``) unless this pipe already holds ``artifact``.

    The runner generates in chunks with one base pipeline, so ``generate`` is called many times.
    """
    key = str(artifact)
    loaded = getattr(pipe, "_actionbench_artifacts", None)
    if loaded is None:
        loaded = set()
        object.__setattr__(pipe, "_actionbench_artifacts", loaded)
    if key not in loaded:
        load()
        loaded.add(key)


ARTIFACT_INFO = "actionbench.json"  # beside the diffusers files of an artifact: identifier, training log


def write_artifact_info(folder, info: dict) -> None:
    """What ``generate`` needs besides the diffusers files (the identifier), plus the training log."""
    from pathlib import Path

    from actionbench.fileio import atomic_write_json

    atomic_write_json(Path(folder) / ARTIFACT_INFO, info)


def read_artifact_info(folder) -> dict:
    from pathlib import Path

    from actionbench.fileio import read_json

    path = Path(folder) / ARTIFACT_INFO
    if not path.is_file():
        raise ActionBenchError(f"the trained artifact {folder} has no {ARTIFACT_INFO}",
                               "re-run training for this method and action")
    return read_json(path)
