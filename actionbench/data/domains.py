"""Which images a benchmark's scorers were made for, and refusing actions of another kind.

Every action's exemplars carry their domain (``photo`` or ``mini-render``, :data:`model.DOMAINS`);
a benchmark declares the domain its scorers were made for in ``benchmark.toml``
(``[defaults] domain = "mini-render"``; absent: ``photo``). Scoring photos with the mini world's
keypoint network (or mini renders with mediapipe) gives numbers that mean nothing: the judge
validated at 0.95 on photos with ``--benchmark actionbench`` scored 0.22 with the mini scorers. So
an action named explicitly on a benchmark of another domain is refused with one line naming the
benchmark to use; with ``all`` it is left out with a notice. Custom actions (``data add-action``)
join every benchmark, so this is what keeps a user's photos away from the mini scorers.
"""

from __future__ import annotations

from actionbench.data.model import MINI_RENDER, PHOTO, Action, Benchmark
from actionbench.errors import ActionBenchError

# The registered benchmark whose scorers read each domain: what the refusal tells the user to pass.
BENCHMARK_FOR_DOMAIN = {PHOTO: "actionbench", MINI_RENDER: "mini"}
DOMAIN_WORDS = {PHOTO: "photos", MINI_RENDER: "mini-world renders"}


def benchmark_domain(benchmark: Benchmark) -> str:
    """The domain the benchmark's scorers were made for (``defaults.domain``; photos when unsaid)."""
    return str(benchmark.defaults.get("domain", PHOTO))


def fits(benchmark: Benchmark, action: Action) -> bool:
    return action.domain == benchmark_domain(benchmark)


def mismatch(benchmark: Benchmark, action: Action) -> str:
    """The problem, in words, of scoring ``action`` with ``benchmark``'s scorers."""
    return (f"action '{action.name}' holds {DOMAIN_WORDS.get(action.domain, action.domain)}, but benchmark "
            f"{benchmark.name}'s scorers were made for {DOMAIN_WORDS.get(benchmark_domain(benchmark), benchmark_domain(benchmark))}")


def fix(action: Action) -> str:
    right = BENCHMARK_FOR_DOMAIN.get(action.domain)
    hint = f"pass --benchmark {right}" if right else "pass a benchmark made for them"
    return f"{hint} (or a benchmark folder whose defaults say domain = \"{action.domain}\")"


def check_domain(benchmark: Benchmark, action: Action) -> None:
    """Refuse an action whose exemplars are not the kind of image the benchmark's scorers read."""
    if not fits(benchmark, action):
        raise ActionBenchError(mismatch(benchmark, action), fix(action))


def foreign_actions(benchmark: Benchmark) -> list[Action]:
    """The benchmark's actions (custom ones joined) that its scorers were not made for."""
    return [a for a in benchmark.actions.values() if not fits(benchmark, a)]


def left_out_notice(action: Action, benchmark: Benchmark) -> str:
    return f"action {action.name} left out: {mismatch(benchmark, action)}; {fix(action)}"
