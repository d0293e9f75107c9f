"""Every trained artifact loads with stock diffusers, in a process that never imports the suite.

Each trainable method is trained for two steps on the tiny random pipeline; the loading script that
``actionbench export`` writes into a model card (:mod:`actionbench.loading`) is run for every
artifact in one fresh interpreter, which checks through ``sys.modules`` that ActionBench was never
imported, and its image is compared with the suite's own ``generate`` for the same prompt and seed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from method_helpers import fixture_action, fresh_pipe, train
from PIL import Image

from actionbench.loading import FORMATS, Snippet, artifact_format, fill_prompt
from actionbench.methods import METHODS

PROMPT = "a cat {action} on a beach"
SEED = 3
TOLERANCE = 2  # of 255: the suite batches its images, the script draws one (float rounding only)
# Guidance 7.5 (SD's usual) amplifies what the text changes: the tiny random UNet barely reads its text, and at
# the fixture's 2.0 a learned token moves the image by only 4-7 levels; here by 16-106 (measured).
SAMPLING = {"num_inference_steps": 2, "guidance_scale": 7.5}

# Tiny trainings; learning rates large enough that two steps move the artifact visibly.
SETTINGS = {
    "textual_inversion": dict(steps=2, gradient_accumulation_steps=1, learning_rate=0.5, scale_lr=False),
    "reversion": dict(steps=2, gradient_accumulation_steps=1, train_batch_size=2, learning_rate=0.5, scale_lr=False),
    "dreambooth": dict(steps=2, num_class_images=1, learning_rate=1e-2),
    "dreambooth_lora": dict(steps=2, learning_rate=1e-1),
    "custom_diffusion": dict(steps=2, num_class_images=1, train_batch_size=1, learning_rate=1e-1, augment=False),
    "p_plus": dict(steps=2, gradient_accumulation_steps=1, learning_rate=0.5, scale_lr=False),
    "adi": dict(steps=2, gradient_accumulation_steps=1, learning_rate=0.5, scale_lr=False,
                action_different_source="base", action_different_per_exemplar=1),
}

RUNNER = textwrap.dedent("""
    import json, runpy, sys
    cases = json.loads(open(sys.argv[1]).read())
    for case in cases:
        runpy.run_path(case["script"], run_name="__main__")
    print(json.dumps({"actionbench_imported": sorted(m for m in sys.modules if m.split(".")[0] == "actionbench")}))
""")


@pytest.fixture(scope="module")
def artifacts(fixture_benchmark, tiny_pipeline_path, tmp_path_factory):
    """method -> (artifact folder, the suite's image for PROMPT and SEED, its config)."""
    action = fixture_action(fixture_benchmark)
    root = tmp_path_factory.mktemp("artifacts")
    trained = {}
    for name, settings in SETTINGS.items():
        method = METHODS.get(name)
        config = method.config_cls(**SAMPLING, **settings)
        artifact = train(method(cache_dir=root / "cache"), action, config, root / name)
        image = method().generate(fresh_pipe(), artifact, [PROMPT], [SEED], config)[0]
        trained[name] = (artifact, np.asarray(image, dtype=np.int16), config)
    return trained


@pytest.fixture(scope="module")
def outside(artifacts, tiny_pipeline_path, tmp_path_factory):
    """Run every method's loading script in one interpreter without the suite; method -> its image."""
    root = tmp_path_factory.mktemp("outside")
    cases = []
    for name, (artifact, _, config) in artifacts.items():
        snippet = Snippet(base=str(tiny_pipeline_path), artifact=str(artifact), prompt=fill_prompt(PROMPT, artifact),
                          seed=SEED, steps=config.num_inference_steps, guidance=config.guidance_scale,
                          output=str(root / f"{name}.png"))
        script = root / f"{name}.py"
        script.write_text(snippet.render(artifact_format(artifact)))
        cases.append({"method": name, "script": str(script)})
    (root / "cases.json").write_text(json.dumps(cases))
    (root / "runner.py").write_text(RUNNER)
    env = {**os.environ, "HF_MODULES_CACHE": str(root / "hf-modules"), "HF_HUB_OFFLINE": "1", "PYTHONPATH": ""}
    result = subprocess.run([sys.executable, str(root / "runner.py"), str(root / "cases.json")], cwd=root,
                            capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    return report, {name: np.asarray(Image.open(root / f"{name}.png").convert("RGB"), dtype=np.int16)
                    for name in artifacts}


@pytest.mark.slow
def test_the_loading_process_never_imports_the_suite(outside):
    report, images = outside
    assert report == {"actionbench_imported": []}
    assert set(images) == set(SETTINGS)


@pytest.mark.slow
@pytest.mark.parametrize("name", list(SETTINGS))
def test_each_artifact_loaded_by_stock_diffusers_draws_the_suites_image(name, artifacts, outside):
    _, images = outside
    _, suite_image, _ = artifacts[name]
    assert images[name].shape == suite_image.shape
    assert int(np.abs(images[name] - suite_image).max()) <= TOLERANCE


@pytest.mark.slow
@pytest.mark.parametrize("name", list(SETTINGS))
def test_the_artifact_matters(name, artifacts, tiny_pipeline_path):
    """Control: the same prompt on the base pipeline without the artifact draws another image."""
    from actionbench.methods.generation import sample_images

    artifact, suite_image, config = artifacts[name]
    plain = sample_images(fresh_pipe(), [fill_prompt(PROMPT, artifact)], [SEED], config)[0]
    assert int(np.abs(np.asarray(plain, dtype=np.int16) - suite_image).max()) > TOLERANCE


@pytest.mark.slow
def test_every_trainable_method_has_a_format_and_a_loading_call(artifacts):
    formats = {name: artifact_format(artifact).name for name, (artifact, _, _) in artifacts.items()}
    assert formats == {
        "textual_inversion": "textual inversion (Textual Inversion, ReVersion)",
        "reversion": "textual inversion (Textual Inversion, ReVersion)",
        "dreambooth": "fine-tuned UNet (DreamBooth)", "dreambooth_lora": "LoRA (DreamBooth-LoRA)",
        "custom_diffusion": "Custom Diffusion", "p_plus": "layer-wise identifiers (P+, ADI)",
        "adi": "layer-wise identifiers (P+, ADI)"}
    assert {fill_prompt("a dog {action}", artifact) for name, (artifact, _, _) in artifacts.items()} == {
        "a dog <A>", "a dog <R>", "a dog sks", "a dog <new1>", "a dog <action>"}


@pytest.mark.slow
def test_the_layerwise_artifact_ships_the_suites_own_loader(artifacts):
    from actionbench.methods import layerwise_pipeline

    for name in ("p_plus", "adi"):
        artifact = artifacts[name][0]
        assert (artifact / "pipeline.py").read_bytes() == Path(layerwise_pipeline.__file__).read_bytes()


def test_an_artifact_in_no_loadable_format_is_one_line(tmp_path):
    from actionbench.errors import ActionBenchError

    (tmp_path / "poses").mkdir()
    with pytest.raises(ActionBenchError) as error:
        artifact_format(tmp_path)
    assert str(error.value) == (
        f"the artifact {tmp_path} is in no format diffusers loads on its own: export methods whose artifact is one "
        f"of: {', '.join(f.name for f in FORMATS)}.")
