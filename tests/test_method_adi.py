"""ADI and its ablations on the tiny random pipeline: triples, gradient masks, training, end to end."""

import json

from dataclasses import replace as dataclasses_replace

import numpy as np
import pytest
import torch
from PIL import Image

from actionbench.base_models import resolve_base_model
from actionbench.cli import main
from actionbench.data import Action
from actionbench.data.folder import load_action
from actionbench.errors import ActionBenchError, Unavailable
from actionbench.methods import METHODS
from actionbench.methods.adi import (
    ACTION, ANCHOR, CONTEXT, ADIConfig, ADIMethod, action_mask, context_mask, gradient_mask, other_actions_for,
    random_mask_like, sample_triples)
from actionbench.methods.layerwise import encode_with_identifiers, load_identifiers
from actionbench.methods.p_plus import PPlusConfig, PPlusMethod
from actionbench.methods.training import ExemplarLatents, denoising_loss, fixed_evaluation_loss

ABLATIONS = {  # name -> (layerwise, context mask, action mask, random mask)
    "adi": (True, True, True, False),
    "adi-single-token": (False, True, True, False),
    "adi-no-context-mask": (True, False, True, False),
    "adi-no-action-mask": (True, True, False, False),
    "adi-no-mask": (True, False, False, False),
    "adi-random-mask": (True, True, True, True),
}


def fast_settings(**overrides) -> dict:
    settings = dict(steps=2, learning_rate=0.05, scale_lr=False, gradient_accumulation_steps=1,
                    num_inference_steps=2, guidance_scale=2.0, action_different_source="base",
                    action_different_per_exemplar=2, subject_lora_steps=2)
    return {**settings, **overrides}


def fast_config(cls=ADIConfig, **overrides):
    return cls(**fast_settings(**overrides))


@pytest.fixture()
def action(fixture_benchmark):
    return load_action(fixture_benchmark / "arms_up")


def hand_mask(g, g_context, g_action, beta):
    """The poster's masks written out with numpy: gamma and lambda are each row's round(beta*D)-th smallest
    difference; keep |g - g_c| < gamma and |g - g_a| >= lambda."""
    g, g_context, g_action = (np.asarray(t, dtype=np.float64) for t in (g, g_context, g_action))
    k = round(beta * g.shape[-1])
    d_c, d_a = np.abs(g - g_context), np.abs(g - g_action)
    gamma = np.sort(d_c, axis=-1)[:, k:k + 1]
    lam = np.sort(d_a, axis=-1)[:, k:k + 1]
    return (d_c < gamma) & (d_a >= lam)


# -- triples ------------------------------------------------------------------------------------


def test_triple_sampler_never_pairs_an_image_with_itself():
    counts = [1, 2, 3, 4, 5]
    anchors = list(range(5)) * 200
    triples = sample_triples(anchors, 5, counts, torch.Generator().manual_seed(0))
    assert [t.anchor for t in triples] == anchors
    for anchor in range(5):
        mine = [t for t in triples if t.anchor == anchor]
        assert {t.context_different for t in mine} == set(range(5)) - {anchor}  # every other exemplar, never itself
        assert {t.action_different for t in mine} == set(range(counts[anchor]))  # only the anchor's own samples
    with pytest.raises(ValueError, match="at least two exemplars"):
        sample_triples([0], 1, None, torch.Generator())


def test_a_triple_batch_respects_the_definitions(tiny_pipe, action):
    method = ADIMethod()
    state = method.prepare(tiny_pipe, action, fast_config(train_batch_size=2))
    zero = lambda latents: ExemplarLatents(latents.mean, torch.zeros_like(latents.std))  # noqa: E731
    state.latents, state.generated = zero(state.latents), zero(state.generated)
    batch = method.draw_triple_batch(state)
    assert batch.roles == (ANCHOR, CONTEXT, ACTION)
    offsets = state.generated_offsets
    for row, triple in enumerate(batch.triples):
        anchor, context, action_row = row, 2 + row, 4 + row  # role-major rows
        assert torch.equal(batch.latents[anchor], state.latents.mean[triple.anchor])
        assert torch.equal(batch.latents[context], state.latents.mean[triple.context_different])
        generated = state.generated.mean[offsets[triple.anchor] + triple.action_different]
        assert torch.equal(batch.latents[action_row], generated)  # the anchor's person doing another action
        assert batch.prompts[anchor] == state.prompts[triple.anchor]
        assert batch.prompts[context] == state.prompts[triple.context_different]
        assert batch.prompts[action_row] == state.prompts[triple.anchor]  # same context, same caption
        for other in (context, action_row):  # one noise and timestep per triple
            assert torch.equal(batch.noise[other], batch.noise[anchor])
            assert batch.timesteps[other] == batch.timesteps[anchor]

    state.config = fast_config(train_batch_size=2, share_noise=False)
    unshared = method.draw_triple_batch(state)
    assert not torch.equal(unshared.noise[0], unshared.noise[2])


def test_action_different_samples_come_from_the_anchor_and_show_other_actions(tiny_pipe, action, monkeypatch):
    from actionbench.data.preprocess import exemplar_image
    from actionbench.methods import dreambooth_lora

    real, trained_on = dreambooth_lora.quick_subject_lora, []

    def recording(pipe, image, prompt, **kwargs):
        trained_on.append(np.asarray(image))
        return real(pipe, image, prompt, **kwargs)

    monkeypatch.setattr(dreambooth_lora, "quick_subject_lora", recording)
    reference = resolve_base_model("tiny").load("cpu")
    config = fast_config(action_different_source="subject_lora", other_actions=["squatting", "raising both arms"])
    samples = ADIMethod().action_different_samples(tiny_pipe, action, config)

    assert len(trained_on) == len(action.exemplars)
    for index, exemplar in enumerate(action.exemplars):
        assert np.array_equal(trained_on[index], np.asarray(exemplar_image(exemplar, 64)))  # the anchor alone
        assert [s.exemplar for s in samples[index]] == [index, index]
        assert [s.prompt for s in samples[index]] == ["a photo of sks person squatting"] * 2  # the action itself dropped
    latents = torch.randn(1, 4, 32, 32)
    text = torch.randn(1, 77, 32)
    with torch.no_grad():  # the quick LoRA is gone afterwards: the exact base UNet again
        assert torch.equal(tiny_pipe.unet(latents, 10, text).sample, reference.unet(latents, 10, text).sample)


def test_other_actions_exclude_the_learned_one():
    def act(name, description):
        return Action(name=name, description=description, exemplars=())

    candidates = ["standing", "squatting", "waving", "smiling", "sitting"]
    assert other_actions_for(act("squat", "squatting down low"), candidates) == ["standing", "waving", "smiling", "sitting"]
    assert other_actions_for(act("sit", "sitting on the ground"), candidates) == ["standing", "squatting", "waving", "smiling"]
    assert other_actions_for(act("cheer", "cheering and smiling"), candidates) == ["standing", "squatting", "waving", "sitting"]


def test_generated_samples_are_cached_per_base_exemplar_and_settings(tiny_pipe, action, tmp_path, monkeypatch):
    method = ADIMethod(cache_dir=tmp_path / "cache")
    first = method.action_different_samples(tiny_pipe, action, fast_config())
    assert len(list((tmp_path / "cache" / "action-different").glob("*/samples.json"))) == len(action.exemplars)

    def no_generation(*args, **kwargs):
        raise AssertionError("generated again")

    monkeypatch.setattr(ADIMethod, "_generate_samples", no_generation)
    again = method.action_different_samples(tiny_pipe, action, fast_config())
    assert [[np.asarray(s.image).tolist() for s in per] for per in again] == \
           [[np.asarray(s.image).tolist() for s in per] for per in first]
    with pytest.raises(AssertionError, match="generated again"):  # other settings: another cache entry
        method.action_different_samples(tiny_pipe, action, fast_config(other_actions=["waving"]))


# -- masks --------------------------------------------------------------------------------------


@pytest.mark.parametrize("beta", [0.25, 0.5, 0.8])
def test_each_mask_keeps_the_configured_fraction(beta):
    generator = torch.Generator().manual_seed(0)
    g, g_c, g_a = (torch.randn(16, 40, generator=generator) for _ in range(3))
    kept = round(beta * 40)
    assert (context_mask(g, g_c, beta).sum(dim=1) == kept).all()
    assert (action_mask(g, g_a, beta).sum(dim=1) == 40 - kept).all()
    assert np.array_equal(gradient_mask(g, g_c, g_a, ADIConfig(beta=beta), generator).numpy(),
                          hand_mask(g, g_c, g_a, beta))

    only_context = gradient_mask(g, g_c, None, ADIConfig(beta=beta, action_mask=False), generator)
    assert (only_context.sum(dim=1) == kept).all()
    overall = gradient_mask(g, g_c, None, ADIConfig(beta=beta, action_mask=False, mask_scope="all"), generator)
    assert int(overall.sum()) == round(beta * 16 * 40)


def test_the_random_mask_keeps_as_many_channels_per_identifier_elsewhere():
    generator = torch.Generator().manual_seed(0)
    g, g_c, g_a = (torch.randn(16, 40, generator=generator) for _ in range(3))
    real = gradient_mask(g, g_c, g_a, ADIConfig(), generator)
    shuffled = gradient_mask(g, g_c, g_a, ADIConfig(random_mask=True), generator)
    assert torch.equal(shuffled.sum(dim=1), real.sum(dim=1))
    assert not torch.equal(shuffled, real)
    assert torch.equal(random_mask_like(torch.ones(2, 5, dtype=torch.bool), generator), torch.ones(2, 5, dtype=torch.bool))


def test_batched_gradients_and_mask_agree_with_three_separate_backward_passes(tiny_pipe, action):
    method = ADIMethod()
    config = fast_config(train_batch_size=2)
    state = method.prepare(tiny_pipe, action, config)
    batch = method.draw_triple_batch(state)
    batched, _ = method.role_gradients(state, batch)

    reference = []
    for role in range(3):  # the straightforward way: one forward and one backward per role
        rows = slice(2 * role, 2 * role + 2)
        identifiers = state.identifiers.detach().clone().requires_grad_(True)
        states = encode_with_identifiers(tiny_pipe, batch.prompts[rows], identifiers, state.token_id)
        loss = denoising_loss(tiny_pipe, state.scheduler, batch.latents[rows], states, batch.timesteps[rows],
                              batch.noise[rows])
        reference.append(torch.autograd.grad(loss, identifiers)[0])
    reference = torch.stack(reference)
    scale = float(reference.abs().max())
    assert scale > 1e-5  # the gradients are not vanishing, so the bar below means something
    assert float((batched - reference).abs().max()) <= 1e-5 * scale

    mask = hand_mask(*reference.numpy(), config.beta)
    method.draw_triple_batch = lambda state: batch
    step = method.optimization_step(state)  # one micro-step per update: the micro-step's gradient, masked
    assert np.array_equal(step.keep.numpy(), mask)
    expected = reference[0] * torch.from_numpy(mask)
    assert float((step.gradient - expected).abs().max()) <= 1e-5 * scale
    assert torch.equal(step.gradient[~step.keep], torch.zeros_like(step.gradient[~step.keep]))


@pytest.mark.parametrize("freeze", [True, False])
def test_masked_channels_receive_exactly_zero_update(tiny_pipe, action, freeze):
    method = ADIMethod()
    state = method.prepare(tiny_pipe, action, fast_config(freeze_masked_channels=freeze))
    method.optimization_step(state)  # AdamW now holds momentum in many channels
    before = state.identifiers.detach().clone()
    step = method.optimization_step(state)
    changed = state.identifiers.detach() != before
    assert 0 < int(step.keep.sum()) < step.keep.numel()
    assert bool(changed[step.keep].all())
    if freeze:
        assert not bool(changed[~step.keep].any())
    else:  # why the freeze exists: momentum and weight decay move masked channels
        assert bool(changed[~step.keep].any())


def moved_share_per_update(method, state, steps: int = 3) -> list[float]:
    """Per optimiser step (after the first, so AdamW holds momentum), the share of entries that moved."""
    method.optimization_step(state)
    shares = []
    for _ in range(steps):
        before = state.identifiers.detach().clone()
        method.optimization_step(state)
        shares.append(float((state.identifiers.detach() != before).float().mean()))
    return shares


def test_with_accumulation_an_update_moves_the_masks_share_not_the_union(tiny_pipe, action):
    # The context mask alone keeps exactly round(beta * D) channels per identifier, so the share is exact.
    settings = dict(action_mask=False, beta=0.25, gradient_accumulation_steps=4)
    method = METHODS.get("adi-no-action-mask")()
    step_wise = moved_share_per_update(method, method.prepare(tiny_pipe, action, fast_config(**settings)))
    assert step_wise == [round(0.25 * 32) / 32] * 3
    micro_wise = moved_share_per_update(method, method.prepare(tiny_pipe, action,
                                                               fast_config(mask_on="micro_step", **settings)))
    # One mask per micro-step, a channel moving when any kept it: 4 draws of 25% cover far more.
    assert all(share > 0.4 for share in micro_wise), micro_wise


def test_the_step_mask_is_computed_on_the_accumulated_gradients(tiny_pipe, action):
    method = ADIMethod()
    state = method.prepare(tiny_pipe, action, fast_config(gradient_accumulation_steps=3))
    batches, draw = [], method.draw_triple_batch

    def recording(state):
        batches.append(draw(state))
        return batches[-1]

    method.draw_triple_batch = recording
    start = state.identifiers.detach().clone()
    step = method.optimization_step(state)
    assert len(batches) == 3
    with torch.no_grad():  # each micro-step's role gradients, computed apart where the step started
        state.identifiers.copy_(start)
    mean = sum(method.role_gradients(state, batch)[0] for batch in batches) / 3
    expected = torch.from_numpy(hand_mask(*mean.numpy(), 0.5))
    assert torch.equal(step.keep, expected)
    assert torch.allclose(step.gradient, mean[0] * expected, atol=1e-8)


# -- action-different sources -------------------------------------------------------------------


@pytest.fixture(scope="module")
def mini_cheer():
    from actionbench.data import get_benchmark

    return get_benchmark("mini", with_custom=False).actions["cheer"]


def test_the_renderer_draws_the_anchors_own_figure_in_other_actions(mini_cheer):
    from actionbench.methods.adi import ACTION_DIFFERENT_SOURCES
    from actionbench.mini.same_figure import recover_spec
    from actionbench.mini.scenes import render

    config = METHODS.get("adi-renderer-samples").config_cls(other_actions=["standing", "lying down"])
    source = ACTION_DIFFERENT_SOURCES.get(config.action_different_source)
    source.check(mini_cheer, config)
    for index in (0, 7):
        exemplar = mini_cheer.exemplars[index]
        anchor = recover_spec("cheer", exemplar)
        assert np.array_equal(render(anchor).image, np.asarray(Image.open(exemplar.image_path).convert("RGB")))
        descriptions, images = source.draw(None, exemplar, index, ["standing", "lying down"], [5, 6], config)
        assert descriptions == ["rendered: the exemplar's figure standing", "rendered: the exemplar's figure lying down"]
        anchor_pixels = np.asarray(Image.open(exemplar.image_path).convert("RGB")).astype(int)
        for image in images:
            pixels = np.asarray(image).astype(int)
            assert pixels.shape == anchor_pixels.shape
            # Same scene and colour: the corners (background) agree exactly; the figure moved.
            assert np.array_equal(pixels[[0, 0, -1, -1], [0, -1, 0, -1]], anchor_pixels[[0, 0, -1, -1], [0, -1, 0, -1]])
            assert int(np.abs(pixels - anchor_pixels).sum()) > 0
    with pytest.raises(ActionBenchError) as error:
        source.check(mini_cheer, dataclasses_replace(config, other_actions=["smiling", "standing"]))
    assert str(error.value).startswith("the mini renderer cannot draw other_actions smiling: name the world's actions: "
                                       "standing, waving,")


def test_methods_all_leaves_the_renderer_variant_out_off_the_mini_world(action):
    from types import SimpleNamespace

    from actionbench.plan import check_methods

    plan = SimpleNamespace(methods=["adi", "adi-renderer-samples"], actions={action.name: action}, notices=[],
                           method_configs={"adi": fast_config(),
                                           "adi-renderer-samples": METHODS.get("adi-renderer-samples").config_cls()})
    check_methods(plan, requested_all=True)
    assert plan.methods == ["adi"]
    assert plan.notices == ["method adi-renderer-samples left out: action_different_source 'renderer' draws only "
                            "ActionBench-Mini's figures; action 'arms_up' is from 'custom': use "
                            "action_different_source=subject_lora (the paper's)."]
    with pytest.raises(Unavailable):  # named explicitly, it stops the run
        check_methods(SimpleNamespace(**{**vars(plan), "methods": ["adi-renderer-samples"]}), requested_all=False)


def test_a_changed_exemplar_is_refused_by_the_renderer(mini_cheer, tmp_path):
    import shutil

    from actionbench.data import Exemplar
    from actionbench.mini.same_figure import recover_spec

    copy = tmp_path / "cheer" / "01.png"
    copy.parent.mkdir()
    shutil.copy(mini_cheer.exemplars[1].image_path, copy)  # exemplar 02's pixels under 01's name
    with pytest.raises(ActionBenchError) as error:
        recover_spec("cheer", Exemplar(copy, "0" * 64))
    assert str(error.value) == (f"exemplar '{copy}' differs from the mini world's render of it: re-render the "
                                "benchmark (delete the mini benchmark cache) or use action_different_source=subject_lora.")


def test_adi_trains_on_rendered_samples(tiny_pipe, mini_cheer, monkeypatch):
    method = METHODS.get("adi-renderer-samples")()
    config = fast_config(action_different_source="renderer", other_actions=["standing", "kicking"], resolution=32)
    method.check(mini_cheer, config)
    samples = method.action_different_samples(tiny_pipe, mini_cheer, config)
    assert [s.other_action for s in samples[3]] == ["standing", "kicking"]
    state = method.prepare(tiny_pipe, mini_cheer, config)
    assert len(state.generated.mean) == 2 * len(mini_cheer.exemplars)
    step = method.optimization_step(state)
    assert 0 < int(step.keep.sum()) < step.keep.numel()


# -- ablations ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(ABLATIONS))
def test_ablations_are_registered_switches(name):
    method = METHODS.get(name)
    config = method.config_cls()
    assert issubclass(method, ADIMethod) and method.name == name
    assert (config.layerwise, config.context_mask, config.action_mask, config.random_mask) == ABLATIONS[name]
    assert METHODS.describe() and dict(METHODS.describe())[name]
    expected_roles = (ANCHOR,) + ((CONTEXT,) if config.context_mask else ()) + ((ACTION,) if config.action_mask else ())
    assert method.roles(config) == expected_roles


def test_adi_no_mask_is_p_plus_with_the_same_settings(fixture_benchmark, action, tmp_path):
    settings = {k: v for k, v in fast_settings(steps=3).items() if k in PPlusConfig.__dataclass_fields__}
    p_plus = PPlusMethod().train(resolve_base_model("tiny").load("cpu"), action, PPlusConfig(**settings), tmp_path / "p")
    no_mask_cls = METHODS.get("adi-no-mask")
    no_mask = no_mask_cls().train(resolve_base_model("tiny").load("cpu"), action,
                                  no_mask_cls.config_cls(**fast_settings(steps=3)), tmp_path / "n")
    assert torch.equal(load_identifiers(p_plus).vectors, load_identifiers(no_mask).vectors)


def test_no_action_mask_needs_no_generated_samples(tiny_pipe, action, monkeypatch):
    monkeypatch.setattr(ADIMethod, "action_different_samples", lambda *a: pytest.fail("generated samples"))
    method = METHODS.get("adi-no-action-mask")()
    state = method.prepare(tiny_pipe, action, fast_config(action_mask=False))
    assert method.optimization_step(state).keep.sum(dim=1).tolist() == [16] * 6  # the context mask keeps half of 32


# -- training -----------------------------------------------------------------------------------


def test_learning_is_real(tiny_pipe, action):
    method = ADIMethod()
    state = method.prepare(tiny_pipe, action, fast_config(learning_rate=0.1))

    def loss(vectors):
        with torch.no_grad():
            states = encode_with_identifiers(tiny_pipe, state.prompts * 8, vectors, state.token_id)
            return fixed_evaluation_loss(tiny_pipe, state.latents.mean.repeat(8, 1, 1, 1), states)

    before = loss(state.identifiers.detach())
    for _ in range(20):
        method.optimization_step(state)
    after = loss(state.identifiers.detach())
    # The tiny random UNet barely listens to its text: moving the identifiers at random by their own
    # norm changes this loss by ~5e-6; 20 steps lower it by ~1.3e-4 (the mask keeps ~20% of channels).
    assert after < before - 3e-5, (before, after)


def test_training_is_reproducible_and_images_reload(action, tmp_path):
    config = fast_config(action_different_source="subject_lora")
    first_pipe = resolve_base_model("tiny").load("cpu")
    first = ADIMethod().train(first_pipe, action, config, tmp_path / "a")
    second = ADIMethod().train(resolve_base_model("tiny").load("cpu"), action, config, tmp_path / "b")
    assert torch.equal(load_identifiers(first).vectors, load_identifiers(second).vectors)
    manifest = json.loads((first / "identifiers.json").read_text())
    assert manifest["method"] == "adi" and manifest["settings"]["beta"] == 0.5
    assert manifest["action_different_prompts"][0] == ["a photo of sks person standing", "a photo of sks person squatting"]

    prompts, seeds = ["a cat {action}", "a cat {action}"], [3, 4]
    images = ADIMethod().generate(first_pipe, first, prompts, seeds, config)
    fresh = ADIMethod().generate(resolve_base_model("tiny").load("cpu"), first, prompts, seeds, config)
    assert all(np.array_equal(np.asarray(a), np.asarray(b)) for a, b in zip(images, fresh))
    assert not np.array_equal(np.asarray(images[0]), np.asarray(images[1]))


# -- bad input ----------------------------------------------------------------------------------


def test_bad_settings_are_refused_before_training(action):
    method = ADIMethod()
    with pytest.raises(ActionBenchError) as error:
        method.check(action, ADIConfig(beta=1.0))
    assert str(error.value) == "adi's beta is 1.0: set beta between 0 and 1 (e.g. 0.5)."
    with pytest.raises(ActionBenchError) as error:
        method.check(action, ADIConfig(other_actions=["raising both arms"]))
    assert str(error.value) == ("none of adi's other_actions (raising both arms) differs from action 'arms_up': "
                                "set adi.other_actions to actions unlike this one.")
    with pytest.raises(ActionBenchError) as error:
        method.check(action, ADIConfig(action_different_source="dreambooth"))
    assert str(error.value) == ("adi's action_different_source is 'dreambooth': use one of subject_lora, base, "
                                "renderer.")
    with pytest.raises(ActionBenchError) as error:
        method.check(action, ADIConfig(mask_on="epoch"))
    assert str(error.value) == "adi's mask_on is 'epoch': use one of step, micro_step."
    with pytest.raises(Unavailable) as error:  # the renderer draws only the mini world's figures: left out of `all`
        method.check(action, ADIConfig(action_different_source="renderer"))
    assert str(error.value) == ("action_different_source 'renderer' draws only ActionBench-Mini's figures; action "
                                "'arms_up' is from 'custom': use action_different_source=subject_lora (the paper's).")
    lonely = Action(name="wave", description="waving", exemplars=action.exemplars[:1])
    with pytest.raises(ActionBenchError) as error:
        method.check(lonely, ADIConfig())
    assert str(error.value) == "action 'wave' has 1 exemplar image(s); adi needs at least 2: add more photos of the action."


# -- end to end ---------------------------------------------------------------------------------


@pytest.mark.slow
def test_adi_and_its_ablations_run_end_to_end(fixture_benchmark, tmp_path, tiny_pipeline_path):
    methods = list(ABLATIONS) + ["p_plus"]
    settings = []
    for name in methods:
        for key, value in fast_settings(subject_lora_steps=2, action_different_per_exemplar=1).items():
            if name != "p_plus" or key in PPlusConfig.__dataclass_fields__:
                settings += ["--set", f"{name}.{key}={json.dumps(value)}"]
    plugin = str(__import__("pathlib").Path(__file__).parent / "plugins" / "dummy_metric.py")
    out = tmp_path / "run"
    code = main(["--plugins", plugin, "run", "--benchmark", str(fixture_benchmark), "--methods", ",".join(methods),
                 "--actions", "all", "--metrics", "brightness", *settings, "--out", str(out)])
    assert code == 0
    for name in methods:
        for action_name in ("arms_up", "arms_out"):
            unit = out / "units" / name / action_name
            assert (unit / "artifact" / "identifiers.safetensors").is_file(), unit
            assert len(list((unit / "images").glob("*.png"))) == 2  # two subjects, one seed
            assert (unit / "scores.jsonl").is_file()
    cached = list((out / "cache" / "action-different").glob("*/samples.json"))
    # One entry per exemplar (3 per action), in the run store, shared by every ADI variant that uses them.
    assert len(cached) == 6
    assert not list(out.glob("units/*/*/cache"))
