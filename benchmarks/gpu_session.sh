#!/usr/bin/env bash
# The work a session lent a GPU machine does there (issues 18 and 21), as a few commands of at most
# 10 minutes each. The machine has python3 with torch and transformers but none of diffusers,
# open_clip or their small dependencies, and reaches no network: they travel as wheels.
#
#   benchmarks/gpu_session.sh wheels          # HERE (pip reaches the registries): .whl/ (git-ignored)
#   benchmarks/gpu_session.sh steps           # THERE: gpu_steps.py on SD 2.1's architecture -> $OUT
#   benchmarks/gpu_session.sh steps-compile   # THERE: the same with torch.compile, TI / P+ / ADI / CFG at 768 px batch 4
#   benchmarks/gpu_session.sh train MINUTES   # THERE: the mini text-to-image model trained further
#   benchmarks/gpu_session.sh evaluate        # THERE: export it, its quality bars -> $OUT (the weights too)
#
# Every THERE command installs the wheels and the package first (seconds) and keeps its work in
# runs/gpu-session/ (git-ignored; a warm machine keeps it between calls). `train` continues the
# shipped pipeline's UNet and text encoder (--init) on the GPU at a larger batch; run it again to
# resume. `evaluate` writes the new weights into the package's pipeline folder on that machine and
# copies them, with the logs and the quality table, into $OUT; bring them here by hand, measure them
# here (actionbench mini quality), and ship them only if the held-in pose bar moves.
# Overrides: GPU_SESSION_BATCH (default 256), GPU_SESSION_LR (2e-4), GPU_SESSION_STEPS (30000),
# GPU_SESSION_DEVICE (cuda; cpu runs the same commands here, for their test), GPU_SESSION_CONFIG (sd21;
# tiny for the test) and GPU_SESSION_STEPS_ARGS (more gpu_steps.py options).
set -euo pipefail
cd "$(dirname "$0")/.."

WORK=runs/gpu-session
export ACTIONBENCH_HOME="$PWD/$WORK/home"  # rendered data, caches and the trainings' work folders
TRAIN="$ACTIONBENCH_HOME/cache/mini/train"
PYTHON=${PYTHON:-python3}
# What the mini path and gpu_steps.py import that the machine's image lacks, at the versions that
# resolve here; transformers and peft too, because the image's are older than pyproject's range.
WHEELS=(diffusers==0.42.1 transformers==5.23.0 peft==0.21.2 open_clip_torch==3.3.0 ftfy==6.3.1 wcwidth==0.7.0
        tomli_w==1.2.0 setuptools==80.9.0)

setup() {
    : "${OUT:?is not set: these commands run on the device machine, which sets it}"
    if ! compgen -G ".whl/*.whl" >/dev/null; then
        echo "gpu_session.sh: no wheels in .whl/: run 'benchmarks/gpu_session.sh wheels' here and carry .whl" >&2
        exit 2
    fi
    "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
    export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
    # the package itself, editable (its methods/, metrics/ ... map under actionbench.*), no dependencies fetched
    "$PYTHON" -m pip install -q --no-index --no-deps --no-build-isolation -e . >/dev/null
    mkdir -p "$WORK"
}

out() { echo "$OUT"; }  # the folder whose files come back (checked in setup)

case "${1:-}" in
wheels)
    mkdir -p .whl
    "$PYTHON" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
        -d .whl "${WHEELS[@]}"
    du -sh .whl
    ;;
steps)
    setup
    set -o pipefail
    "$PYTHON" benchmarks/gpu_steps.py --device "${GPU_SESSION_DEVICE:-cuda}" --config "${GPU_SESSION_CONFIG:-sd21}" \
        ${GPU_SESSION_STEPS_ARGS:-} 2>&1 | tee "$(out)/gpu_steps.txt"
    ;;
steps-compile)
    setup
    set -o pipefail
    "$PYTHON" benchmarks/gpu_steps.py --device "${GPU_SESSION_DEVICE:-cuda}" --config "${GPU_SESSION_CONFIG:-sd21}" \
        --compile --methods textual_inversion,p_plus,adi,cfg --sizes 768 --batches 4 ${GPU_SESSION_STEPS_ARGS:-} 2>&1 \
        | tee "$(out)/gpu_steps_compile.txt"
    ;;
train)
    setup
    minutes=${2:?give the minutes this call may train (a call runs at most 10)}
    # The shipped judge and keypoint network score the images the trainer draws at every evaluation
    # (in its log): the trainer looks for them in their components' export folders. (The pipeline's
    # autoencoder comes along by itself with --init.)
    for part in judge keypoints; do
        target="$TRAIN/$part/export"
        [ -f "$target/config.json" ] || { mkdir -p "$target" && cp -r "actionbench/mini/weights/$part/." "$target/"; }
    done
    "$PYTHON" -m actionbench mini train --component unet --init actionbench/mini/weights/pipeline \
        --device "${GPU_SESSION_DEVICE:-cuda}" --batch-size "${GPU_SESSION_BATCH:-256}" \
        --lr "${GPU_SESSION_LR:-2e-4}" --steps "${GPU_SESSION_STEPS:-30000}" --minutes "$minutes"
    cp "$TRAIN/unet/log.txt" "$(out)/unet_log.txt"
    ;;
evaluate)
    setup
    "$PYTHON" -m actionbench mini export --components unet
    set -o pipefail
    "$PYTHON" -m actionbench mini quality --skip scorers,held-out 2>&1 \
        | tee "$(out)/quality.txt" || true  # a missed bar exits 1; the table is what comes back
    cp actionbench/mini/weights/pipeline/unet/diffusion_pytorch_model.safetensors "$(out)/unet.safetensors"
    cp actionbench/mini/weights/pipeline/text_encoder/model.safetensors "$(out)/text_encoder.safetensors"
    cp "$TRAIN/unet/log.txt" "$(out)/unet_log.txt"
    ;;
*)
    sed -n '2,20p' "$0"
    exit 2
    ;;
esac
