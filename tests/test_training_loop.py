"""The one training loop (methods/training_loop.py) on a toy problem: no pipeline, exact answers."""

import pytest
import torch

from actionbench.errors import ActionBenchError
from actionbench.methods.base import MethodConfig
from actionbench.methods.training_loop import (
    GradientHook, all_finite, autocast, check_training_options, make_optimizer, optimisation, run_updates, update)

TARGET = torch.tensor([1.0, -2.0, 3.0, 0.5])


def toy(accumulation: int = 2):
    config = MethodConfig(gradient_accumulation_steps=accumulation)
    weight = torch.nn.Parameter(torch.ones(4))  # not zero: weight decay alone would move every entry
    return config, weight, lambda: ((weight - TARGET) ** 2).sum()


def test_run_updates_is_diffusers_loop_exactly():
    config, weight, loss = toy(accumulation=2)
    history = run_updates([weight], loss, 3, 0.1, config, torch.device("cpu"), max_grad_norm=1.0)
    by_hand = torch.nn.Parameter(torch.ones(4))  # accelerate's loop written out
    optimizer = torch.optim.AdamW([by_hand], lr=0.1, betas=(0.9, 0.999), weight_decay=1e-2, eps=1e-8)
    expected = []
    for _ in range(3):
        total = 0.0
        for _ in range(2):
            micro = ((by_hand - TARGET) ** 2).sum() / 2
            micro.backward()
            total += float(micro.detach())
        torch.nn.utils.clip_grad_norm_([by_hand], 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        expected.append(total)
    assert history == expected
    assert torch.equal(weight.detach(), by_hand.detach())


@pytest.mark.parametrize("every,calls", [("step", 1), ("micro_step", 3)])
def test_the_hook_runs_when_asked_and_unkept_entries_stay_exactly(every, calls):
    config, weight, loss = toy(accumulation=3)
    opt = optimisation([weight], 0.1, config, torch.device("cpu"))
    seen = []

    def keep_first_half() -> torch.Tensor:
        seen.append(weight.grad.clone())
        keep = torch.tensor([True, True, False, False])
        if every == "step":
            weight.grad = weight.grad * keep
        return keep

    update(opt, loss, hook=GradientHook(keep_first_half, every=every))  # AdamW now holds momentum everywhere
    before = weight.detach().clone()
    step = update(opt, loss, hook=GradientHook(keep_first_half, every=every))
    assert len(seen) == 2 * calls
    assert step.kept_fraction == 0.5
    assert bool((weight.detach()[:2] != before[:2]).all())
    assert torch.equal(weight.detach()[2:], before[2:])  # momentum and weight decay did not move them
    unfrozen = toy(accumulation=3)[1]
    opt = optimisation([unfrozen], 0.1, config, torch.device("cpu"))
    half = GradientHook(lambda: torch.tensor([True, True, False, False]), every=every, freeze=False)
    update(opt, lambda: ((unfrozen - TARGET) ** 2).sum(), hook=half)
    assert not torch.equal(unfrozen.detach()[2:], torch.ones(2))  # without the freeze they move
    assert step.loss == pytest.approx(float(((before - TARGET) ** 2).sum()))


def test_precision_and_attention_are_checked_in_one_place():
    with pytest.raises(ActionBenchError) as error:
        check_training_options(MethodConfig(mixed_precision="fp8"))
    assert str(error.value) == "mixed_precision is 'fp8': use no, fp16 or bf16."
    with pytest.raises(ActionBenchError) as again:
        autocast(MethodConfig(mixed_precision="fp8"), torch.device("cpu"))
    assert str(again.value) == str(error.value)
    with pytest.raises(ActionBenchError) as error:
        check_training_options(MethodConfig(attention="flash"))
    assert str(error.value) == "attention is 'flash': use sdpa or default."


def test_the_stages_and_the_methods_seed_alike():
    import random

    from actionbench.methods.training import seed_all
    from actionbench.seeding import seed_all as stages_seed

    assert seed_all is stages_seed
    generator = seed_all(7)
    first = (random.random(), float(torch.rand(1)), float(torch.rand(1, generator=generator)))
    generator = seed_all(7)
    assert (random.random(), float(torch.rand(1)), float(torch.rand(1, generator=generator))) == first


def test_the_finiteness_check_is_exact_where_a_norm_would_overflow():
    finite = [torch.ones(3), torch.zeros(2, 2)]
    assert all_finite(finite) and all_finite([])
    assert all_finite([torch.full((4,), 1e30), torch.ones(2, dtype=torch.float16)])  # norm overflows; entries do not
    for bad in (float("inf"), float("-inf"), float("nan")):
        assert not all_finite(finite + [torch.tensor([0.0, bad, 1.0])])


def test_adamw_runs_one_kernel_over_all_tensors_bit_for_bit_like_the_loop():
    weights = [torch.nn.Parameter(torch.randn(5, 3, generator=torch.Generator().manual_seed(i))) for i in range(3)]
    copies = [torch.nn.Parameter(w.detach().clone()) for w in weights]
    ours = make_optimizer(weights, 0.1, MethodConfig())
    assert ours.defaults["foreach"] is True
    loop = torch.optim.AdamW(copies, lr=0.1, betas=(0.9, 0.999), weight_decay=1e-2, eps=1e-8, foreach=False)
    for step in range(3):
        for group in (weights, copies):
            sum(((w - step) ** 3).sum() for w in group).backward()
        ours.step(), loop.step()
        ours.zero_grad(), loop.zero_grad()
    assert all(torch.equal(a, b) for a, b in zip(weights, copies))
