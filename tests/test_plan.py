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
