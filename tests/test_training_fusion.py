"""An update's micro-steps run as one batch (``fuse_micro_steps``, ``SplitMicroStep``): the same loss,
the same random draws, only the order of float sums changes. Fused against unfused, on a toy problem
(exact answers) and on the tiny pipeline for textual inversion, P+, ADI and DreamBooth."""

import pytest
import torch
from method_helpers import SAMPLING, fixture_action, fresh_pipe

from actionbench.methods import METHODS, training_loop
from actionbench.methods.base import MethodConfig
from actionbench.methods.training import read_artifact_info
from actionbench.methods.training_loop import GradientHook, MicroLosses, SplitMicroStep, optimisation, update
from actionbench.seeding import seed_all

STEPS = 3
ACCUMULATION = 3


def close(fused: torch.Tensor, unfused: torch.Tensor, rtol: float = 1e-4) -> bool:
    """Equal within ``rtol`` of the largest entry (float sums reordered, nothing else)."""
    return float((fused - unfused).abs().max()) <= rtol * float(unfused.abs().max())


# -- the loop on a toy problem --------------------------------------------------------------------


def toy(fuse: bool, calls: list[int]):
    config = MethodConfig(gradient_accumulation_steps=ACCUMULATION, train_batch_size=2, fuse_micro_steps=fuse)
    weight = torch.nn.Parameter(torch.ones(4))
    generator = torch.Generator().manual_seed(0)

    def draw() -> torch.Tensor:
        return torch.randn(config.train_batch_size, 4, generator=generator)

    def loss(draws: list[torch.Tensor]) -> MicroLosses:
        calls.append(len(draws))
        rows = ((weight - torch.cat(draws)) ** 2).sum(dim=1)
        means = torch.stack([part.mean() for part in rows.split(config.train_batch_size)])
        return MicroLosses(means, [float(m) + 100 for m in means.detach()])  # logged: not the loss itself

    return config, weight, generator, SplitMicroStep(draw, loss)


def test_fused_updates_are_the_same_sum_with_the_same_draws():
    runs = {}
    for fuse in (True, False):
        calls: list[int] = []
        config, weight, generator, step = toy(fuse, calls)
        opt = optimisation([weight], 0.1, config, torch.device("cpu"))
        updates = [update(opt, step) for _ in range(STEPS)]
        runs[fuse] = (weight.detach().clone(), generator.get_state(), updates, calls)
    (fused, fused_rng, fused_updates, fused_calls), (plain, plain_rng, plain_updates, plain_calls) = runs[True], runs[False]
    assert fused_calls == [ACCUMULATION] * STEPS  # one pass per update
    assert plain_calls == [1] * (ACCUMULATION * STEPS)  # one pass per micro-step
    assert torch.equal(fused_rng, plain_rng)
    assert torch.allclose(fused, plain, rtol=1e-6, atol=0)
    for a, b in zip(fused_updates, plain_updates):
        assert a.loss == pytest.approx(b.loss, rel=1e-6) and a.loss > 100  # the mean of the reported losses
        assert a.accumulated_loss == pytest.approx(b.accumulated_loss, rel=1e-6)  # sum of loss / accumulation


def test_a_hook_per_micro_step_never_fuses():
    calls: list[int] = []
    config, weight, _, step = toy(True, calls)
    opt = optimisation([weight], 0.1, config, torch.device("cpu"))
    update(opt, step, hook=GradientHook(lambda: torch.ones(4, dtype=torch.bool), every="micro_step"))
    assert calls == [1] * ACCUMULATION
    update(opt, step, hook=GradientHook(lambda: torch.ones(4, dtype=torch.bool), every="step"))
    assert calls == [1] * ACCUMULATION + [ACCUMULATION]


# -- the methods on the tiny pipeline -------------------------------------------------------------


@pytest.fixture(scope="module")
def action(fixture_benchmark):
    return fixture_action(fixture_benchmark)


def identifier_runs(name: str, action, **settings):
    """P+ / ADI stepped by hand, fused and not: per run the identifiers, the generator's state, the updates."""
    runs = {}
    method = METHODS.get(name)()
    for fuse in (True, False):
        config = method.config_cls(**SAMPLING, steps=STEPS, learning_rate=0.05, scale_lr=False,
                                   gradient_accumulation_steps=ACCUMULATION, fuse_micro_steps=fuse, **settings)
        state = method.prepare(fresh_pipe(), action, config)
        updates = [method.optimization_step(state) for _ in range(STEPS)]
        runs[fuse] = (state.identifiers.detach().clone(), state.generator.get_state(), updates)
    return runs


@pytest.mark.parametrize("name,settings", [
    ("p_plus", {}),
    ("adi", {"action_different_source": "base", "action_different_per_exemplar": 2}),
])
def test_p_plus_and_adi_train_the_same_fused(name, settings, action, tiny_pipeline_path):
    runs = identifier_runs(name, action, **settings)
    (fused, fused_rng, fused_updates), (plain, plain_rng, plain_updates) = runs[True], runs[False]
    assert torch.equal(fused_rng, plain_rng)  # the same draws, in the same order
    assert not torch.equal(fused, plain)  # the sums really were reordered: this is not the same code path
    assert close(fused, plain)
    for a, b in zip(fused_updates, plain_updates):
        assert a.loss == pytest.approx(b.loss, rel=1e-5)
        assert a.accumulated_loss == pytest.approx(b.accumulated_loss, rel=1e-5)
        assert close(a.gradient, b.gradient)
        if name == "adi":  # the masks, computed on each role's gradient summed over the micro-steps
            assert torch.equal(a.keep, b.keep) and 0 < a.kept_fraction < 1


def trained_with(name: str, action, fuse: bool, monkeypatch, folder, **settings):
    """Train through ``Method.train``; return each update's applied gradient (of the first parameter),
    the training generator's state after, the logged losses and the trained pipe."""
    generators, gradients = [], []

    def recording_seed(seed):
        generators.append(seed_all(seed))
        return generators[-1]

    def recording_update(*args, **kwargs):
        step = update(*args, **kwargs, keep_gradient=True)
        gradients.append(step.gradient.detach().clone())
        return step

    monkeypatch.setattr(f"{METHODS.get(name).__module__}.seed_all", recording_seed)
    monkeypatch.setattr(training_loop, "update", recording_update)
    method = METHODS.get(name)
    config = method.config_cls(**SAMPLING, steps=STEPS, gradient_accumulation_steps=ACCUMULATION,
                               fuse_micro_steps=fuse, **settings)
    pipe = fresh_pipe()
    folder.mkdir()
    method().train(pipe, action, config, folder)
    return gradients, generators[-1].get_state(), read_artifact_info(folder)["loss_history"], pipe


def same_losses(fused: list[float], unfused: list[float]) -> bool:
    return len(fused) == STEPS and fused == pytest.approx(unfused, rel=1e-5)


def test_textual_inversion_trains_the_same_fused(action, tiny_pipeline_path, monkeypatch, tmp_path):
    runs = {fuse: trained_with("textual_inversion", action, fuse, monkeypatch, tmp_path / str(fuse), learning_rate=0.05)
            for fuse in (True, False)}
    (fused_grads, fused_rng, fused_log, fused_pipe), (plain_grads, plain_rng, plain_log, plain_pipe) = runs[True], runs[False]
    assert torch.equal(fused_rng, plain_rng)
    assert same_losses(fused_log, plain_log)
    token = fused_pipe.tokenizer.convert_tokens_to_ids("<A>")
    learned = [p.text_encoder.get_input_embeddings().weight[token].detach() for p in (fused_pipe, plain_pipe)]
    assert not torch.equal(*learned) and close(*learned)
    assert all(a.shape == (1, learned[0].shape[0]) and close(a, b) for a, b in zip(fused_grads, plain_grads))  # <A>'s row


def test_dreambooth_trains_the_same_fused(action, tiny_pipeline_path, monkeypatch, tmp_path):
    """Instance and class-prior rows of every micro-step in one forward. AdamW's first steps are
    lr x sign(g) wherever |g| is far below eps's scale, so a rounding-level change of a near-zero
    gradient entry moves that weight by up to lr: the gradients are what must agree."""
    runs = {fuse: trained_with("dreambooth", action, fuse, monkeypatch, tmp_path / str(fuse), num_class_images=2,
                               learning_rate=1e-4) for fuse in (True, False)}
    (fused_grads, fused_rng, fused_log, fused_pipe), (plain_grads, plain_rng, plain_log, plain_pipe) = runs[True], runs[False]
    assert torch.equal(fused_rng, plain_rng)
    assert same_losses(fused_log, plain_log)
    assert len(fused_grads) == STEPS and not torch.equal(fused_grads[0], plain_grads[0])
    assert close(fused_grads[0], plain_grads[0])  # conv_in's gradient at the same weights
    weights = [dict(p.unet.named_parameters()) for p in (fused_pipe, plain_pipe)]
    moved = max(float((weights[0][k] - weights[1][k]).abs().max()) for k in weights[0])
    assert moved <= 2 * 1e-4 * STEPS  # AdamW's bound on the difference: lr per step each way


@pytest.mark.parametrize("name,settings,fused_rows,unfused_rows", [
    ("textual_inversion", {}, [ACCUMULATION], [1] * ACCUMULATION),
    ("dreambooth", {"num_class_images": 2}, [2 * ACCUMULATION], [1] * (2 * ACCUMULATION)),  # instance + prior
])
def test_fused_updates_run_one_unet_pass_and_unfused_one_per_batch(name, settings, fused_rows, unfused_rows, action,
                                                                    tiny_pipeline_path, monkeypatch, tmp_path):
    from actionbench.methods import training_objective

    real = training_objective.prediction_and_target
    for fuse, expected in ((True, fused_rows), (False, unfused_rows)):
        rows: list[int] = []

        def counting(pipe, scheduler, latents, *args, **kwargs):
            rows.append(latents.shape[0])
            return real(pipe, scheduler, latents, *args, **kwargs)

        monkeypatch.setattr(training_objective, "prediction_and_target", counting)
        method = METHODS.get(name)
        config = method.config_cls(**SAMPLING, steps=2, gradient_accumulation_steps=ACCUMULATION, fuse_micro_steps=fuse,
                                   **settings)
        (tmp_path / str(fuse)).mkdir()
        method().train(fresh_pipe(), action, config, tmp_path / str(fuse))
        assert rows == expected * 2, fuse  # two updates
