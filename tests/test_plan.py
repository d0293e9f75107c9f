"""Planning: every name, setting and input is checked before any work starts."""

import pytest

from actionbench.config import RunConfig
from actionbench.errors import Unavailable
from actionbench.plan import build_plan


def config(benchmark, **overrides):
    overrides.setdefault("metrics", ["pose"])
    return RunConfig(benchmark=str(benchmark), actions=["arms_up"], out="unused", **overrides)


def test_a_method_without_its_weights_is_left_out_of_all_with_a_notice(fixture_benchmark):
    plan = build_plan(config(fixture_benchmark, methods=["all"]))
    assert "controlnet_pose" not in plan.methods
    assert {"text", "textual_inversion", "adi"} <= set(plan.methods)
    assert plan.notices == [
        "method controlnet_pose left out: controlnet_pose needs ControlNet-OpenPose weights and "
        "controlnet_pose.controlnet_model is not set: pass --set controlnet_pose.controlnet_model=PATH_OR_HUB_ID "
        "(a diffusers ControlNetModel for your base, e.g. lllyasviel/sd-controlnet-openpose for SD 1.5), or leave "
        "controlnet_pose out of --methods.",
        "method adi-renderer-samples left out: action_different_source 'renderer' draws only ActionBench-Mini's "
        "figures; action 'arms_up' is from 'fixture': use action_different_source=subject_lora (the paper's).",
        "method oracle left out: oracle draws with the mini world's renderer and action 'arms_up' is not one of its "
        "held-out actions: run it with --benchmark mini, or leave it out of --methods.",
        "method wrong_action left out: wrong_action draws with the mini world's renderer and action 'arms_up' is not "
        "one of its held-out actions: run it with --benchmark mini, or leave it out of --methods."]
    assert {"copy_exemplar", "blank"} <= set(plan.methods)  # the controls that run anywhere join "all"


def test_the_same_method_named_explicitly_stops_the_run(fixture_benchmark):
    with pytest.raises(Unavailable, match="controlnet_pose needs ControlNet-OpenPose weights"):
        build_plan(config(fixture_benchmark, methods=["text", "controlnet_pose"]))


def test_keys_change_with_what_they_depend_on(fixture_benchmark):
    first = build_plan(config(fixture_benchmark, methods=["text"]))
    again = build_plan(config(fixture_benchmark, methods=["text"]))
    assert first.keys == again.keys
    other_seed = build_plan(config(fixture_benchmark, methods=["text"], seeds=[5]))
    unit = first.units[0]
    assert other_seed.key(unit, "train") == first.key(unit, "train")  # training does not see evaluation seeds
    assert other_seed.key(unit, "generate") != first.key(unit, "generate")
    changed = build_plan(config(fixture_benchmark, methods=["text"], method_settings={"text": {"seed": 3}}))
    assert changed.key(unit, "train") != first.key(unit, "train")


def test_metric_settings_are_resolved_at_plan_time_and_keyed_by_their_values(fixture_benchmark):
    from actionbench.metrics.base import NoSettings
    from actionbench.metrics.pose import PoseSettings

    first = build_plan(config(fixture_benchmark, methods=["text"], metrics=["pose", "subject"]))
    assert first.metric_configs == {"pose": PoseSettings(), "subject": NoSettings()}
    unit = first.units[0]
    spelt_out = build_plan(config(fixture_benchmark, methods=["text"], metrics=["pose", "subject"],
                                  metric_settings={"pose": {"scale": "torso", "area": PoseSettings().area}}))
    assert spelt_out.key(unit, "score") == first.key(unit, "score")  # the defaults written out: the same scores
    other = build_plan(config(fixture_benchmark, methods=["text"], metrics=["pose", "subject"],
                              metric_settings={"pose": {"scale": "coco_area"}}))
    assert other.metric_configs["pose"] == PoseSettings(scale="coco_area")
    assert other.key(unit, "score") != first.key(unit, "score")
    assert other.key(unit, "generate") == first.key(unit, "generate")


def test_a_metric_whose_rule_changes_is_rescored_not_read_back(fixture_benchmark, monkeypatch):
    """A stored score computed under a metric's old rule must not be read back under the new one: the
    metric's version is in the score key (training and generation are kept)."""
    from actionbench.metrics import METRICS

    first = build_plan(config(fixture_benchmark, methods=["text"], metrics=["pose", "judge"]))
    unit = first.units[0]
    monkeypatch.setattr(METRICS.get("judge"), "version", METRICS.get("judge").version + 1)
    changed = build_plan(config(fixture_benchmark, methods=["text"], metrics=["pose", "judge"]))
    assert changed.key(unit, "score") != first.key(unit, "score")
    assert changed.key(unit, "generate") == first.key(unit, "generate")


def test_scene_labels_rescore_without_retraining_or_regenerating(fixture_benchmark, tmp_path):
    """Exemplars' and subjects' ``scene`` labels are read by the leakage metric only: adding them to a
    benchmark changes the score key, never the training or generation key (docs/data-format.md)."""
    import shutil
    import tomllib

    import tomli_w

    bench = shutil.copytree(fixture_benchmark, tmp_path / "bench")
    first = build_plan(config(bench, methods=["text"], metrics=["pose", "leakage"]))
    for path, entries in ((bench / "arms_up" / "action.toml", "exemplars"), (bench / "benchmark.toml", "protocol")):
        spec = tomllib.loads(path.read_text())
        items = spec["exemplars"] if entries == "exemplars" else spec["protocol"]["subjects"]
        items[0]["scene"] = "beach"
        path.write_text(tomli_w.dumps(spec))
    labelled = build_plan(config(bench, methods=["text"], metrics=["pose", "leakage"]))
    assert labelled.benchmark.protocol.subject_scenes and labelled.actions["arms_up"].exemplars[0].scene == "beach"
    unit = first.units[0]
    assert labelled.key(unit, "train") == first.key(unit, "train")
    assert labelled.key(unit, "generate") == first.key(unit, "generate")
    assert labelled.key(unit, "score") != first.key(unit, "score")


def test_choice_settings_are_refused_at_plan_time_by_their_literal_type(fixture_benchmark):
    from actionbench.errors import ActionBenchError

    with pytest.raises(ActionBenchError) as error:
        build_plan(config(fixture_benchmark, methods=["text"], method_settings={"text": {"mixed_precision": "fp8"}}))
    assert str(error.value) == "settings for method text.mixed_precision is 'fp8': it must be one of no, fp16, bf16."
    plan = build_plan(config(fixture_benchmark, methods=["text"], method_settings={"text": {"attention": "default"}}))
    assert plan.method_configs["text"].attention == "default"


def test_every_choice_setting_defaults_to_one_of_its_choices():
    import dataclasses
    import typing

    from actionbench.methods import METHODS
    from actionbench.metrics import METRICS

    classes = [METHODS.get(n).config_cls for n in METHODS.names()] + [METRICS.get(n).settings_cls
                                                                      for n in METRICS.names()]
    checked = 0
    for cls in classes:
        hints = typing.get_type_hints(cls)
        for item in dataclasses.fields(cls):
            choices = [a for a in (hints[item.name], *typing.get_args(hints[item.name]))
                       if typing.get_origin(a) is typing.Literal]
            if choices and item.default is not dataclasses.MISSING:
                assert item.default in typing.get_args(choices[0]), (cls.__name__, item.name)
                checked += 1
    assert checked >= len(classes)  # every method has mixed_precision and attention


@pytest.mark.parametrize("method, setting, value, retrains", [
    ("text", "generation_batch_size", 3, False),
    ("textual_inversion", "guidance_scale", 3.0, False),
    ("p_plus", "num_inference_steps", 7, False),
    ("reversion", "guidance_scale", 3.0, False),
    ("dreambooth_lora", "guidance_scale", 3.0, False),  # no prior preservation by default: samples nothing
    ("adi-no-action-mask", "guidance_scale", 3.0, False),  # no action-different samples to draw
    ("adi", "generation_batch_size", 3, False),  # batching is left out of the samples' cache key too
    ("dreambooth", "generation_batch_size", 3, False),
    ("adi", "guidance_scale", 3.0, True),  # draws its action-different samples with it
    ("adi", "num_inference_steps", 7, True),
    ("dreambooth", "guidance_scale", 3.0, True),  # draws its class images with it
    ("custom_diffusion", "num_inference_steps", 7, True),
])
def test_a_generation_setting_retrains_only_a_method_that_samples_while_training(fixture_benchmark, method, setting,
                                                                                 value, retrains):
    first = build_plan(config(fixture_benchmark, methods=[method]))
    changed = build_plan(config(fixture_benchmark, methods=[method], method_settings={method: {setting: value}}))
    unit = first.units[0]
    assert (changed.key(unit, "train") != first.key(unit, "train")) == retrains
    assert changed.key(unit, "generate") != first.key(unit, "generate")
    assert changed.key(unit, "score") != first.key(unit, "score")


def test_a_method_declaring_that_training_reads_a_training_setting_is_refused():
    from actionbench.errors import ActionBenchError
    from actionbench.methods.base import Method, MethodConfig

    class Confused(Method):
        name = "confused"

        def training_reads(self, config):
            return ("seed",)

        def train(self, base, action, config, out_dir): ...

        def generate(self, base, artifact, prompts, seeds, config): ...

    with pytest.raises(ActionBenchError) as error:
        Confused().key_settings(MethodConfig())
    assert str(error.value) == (
        "method confused declares that training reads 'seed', which is not one of its generation settings "
        "(num_inference_steps, guidance_scale, generation_batch_size): name only fields declared with "
        "generation_setting() in training_reads.")
