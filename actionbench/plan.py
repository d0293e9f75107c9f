"""A run's plan: the resolved configuration, the units to run and the key of each stage.

Planning checks every name and every input before any work starts (unknown method, action or
metric; a base model that cannot be found; an action a method cannot train on), so bad input costs
seconds, not a half-finished run.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from actionbench.base_models import BaseModel, resolve_base_model
from actionbench.config import RunConfig, ScorerConfig, from_dict, merge
from actionbench.data import Action, Benchmark, Subject, get_benchmark, resolve_actions
from actionbench.data.domains import foreign_actions, left_out_notice
from actionbench.errors import ActionBenchError, Unavailable
from actionbench.fileio import stable_hash
from actionbench.perception.settings import scorer_versions
from actionbench.methods import METHODS
from actionbench.metrics import METRICS
from actionbench.seeding import check_seeds
from actionbench.store import Unit


@dataclass(frozen=True)
class ImageRequest:
    """One image to generate: who performs the action, with which seed."""

    image_id: str
    subject: Subject
    seed: int  # the protocol seed
    index: int  # 0 .. images_per_prompt-1
    generator_seed: int  # what seeds the sampler: the protocol seed, derived for index > 0
    prompt: str  # the protocol prompt with the "{action}" placeholder


@dataclass
class Plan:
    config: RunConfig
    benchmark: Benchmark
    base: BaseModel
    actions: dict[str, Action]
    methods: list[str]
    metrics: list[str]
    seeds: list[int]
    scorers: ScorerConfig
    scorer_versions: dict[str, str | None]  # the chosen scorers' model versions (weights hashes)
    method_configs: dict[str, Any]  # method name -> its resolved config dataclass
    metric_configs: dict[str, Any] = field(default_factory=dict)  # metric name -> its resolved settings dataclass
    references: dict[str, str] = field(default_factory=dict)  # metric -> reference method
    notices: list[str] = field(default_factory=list)  # what was left out of "all", and why
    requests: list[ImageRequest] = field(default_factory=list)
    keys: dict[tuple[Unit, str], str] = field(default_factory=dict)

    @property
    def units(self) -> list[Unit]:
        return [Unit(m, a) for m in self.methods for a in self.actions]

    @property
    def reference_units(self) -> list[Unit]:
        return [Unit(m, None) for m in dict.fromkeys(self.references.values())]

    def all_units(self) -> list[Unit]:
        return self.reference_units + self.units

    def key(self, unit: Unit, stage: str) -> str:
        return self.keys[(unit, stage)]


def resolve_device(device: str) -> str:
    """"auto" is CUDA when this machine has it, else the CPU; another device must be usable here."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    check_device(device, "the device")
    return device


def check_device(device: str, where: str, here: bool = True) -> None:
    """Refuse in one line a device torch cannot name, or (``here``: the work runs on this machine) one
    this machine lacks; otherwise it would fail inside the first unit. No CUDA context is made."""
    import torch

    fix = "give auto, cpu, cuda, cuda:N or mps"
    if device == "auto":
        return
    try:
        parsed = torch.device(device)
    except RuntimeError:
        raise ActionBenchError(f"{where} {device!r} is not a device", fix) from None
    if parsed.type not in ("cpu", "cuda", "mps"):
        raise ActionBenchError(f"{where} {device!r} is not supported by the suite", fix)
    if here and parsed.type == "mps" and not torch.backends.mps.is_available():
        raise ActionBenchError(f"{where} {device!r} is not available on this machine", "give cpu or auto")
    if here and parsed.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0 or (parsed.index is not None and parsed.index >= count):
            raise ActionBenchError(f"{where} {device!r} is not available on this machine (it has {count} CUDA "
                                   f"device{'s' if count != 1 else ''})", "give cpu or auto, or a GPU it has")


def method_config(name: str, benchmark: Benchmark, config: RunConfig, protocol_defaults: dict[str, Any]):
    """Method defaults (its paper) < the benchmark's defaults < the user's settings; then the protocol
    fills inference settings the method leaves open."""
    method_cls = METHODS.get(name)
    resolved = method_cls.config_cls()
    benchmark_settings = benchmark.defaults.get("methods", {}).get(name, {})
    resolved = merge(resolved, benchmark_settings, f"benchmark {benchmark.name}'s settings for {name}")
    resolved = merge(resolved, config.method_settings.get(name, {}), f"settings for method {name}")
    for key, value in protocol_defaults.items():
        if getattr(resolved, key, "absent") is None:
            resolved = dataclasses.replace(resolved, **{key: value})
    method_cls.check_config(resolved)
    return resolved


def metric_config(name: str, benchmark: Benchmark, user_settings: dict[str, Any]):
    """The metric's own defaults < the benchmark's defaults (``metrics.NAME``) < the user's settings,
    as the metric's ``settings_cls``; a key it does not have is one line naming the valid ones."""
    metric_cls = METRICS.get(name)
    settings_cls = metric_cls.settings_cls
    valid = sorted(f.name for f in dataclasses.fields(settings_cls))
    benchmark_settings = benchmark.defaults.get("metrics", {}).get(name, {})
    for given, where in ((benchmark_settings, f" in benchmark {benchmark.name}'s defaults"), (user_settings, "")):
        if not isinstance(given, dict):
            raise ActionBenchError(f"the settings for metric {name}{where} are {given!r}, not a table",
                                   f"write them as {name}.KEY = VALUE")
        unknown = sorted(set(given) - set(valid))
        if unknown:
            raise ActionBenchError(f"unknown setting '{unknown[0]}' for metric {name}{where}",
                                   f"valid settings are {', '.join(valid)}" if valid
                                   else f"metric {name} takes no settings")
    resolved = merge(settings_cls(), benchmark_settings, f"benchmark {benchmark.name}'s settings for metric {name}")
    resolved = merge(resolved, user_settings, f"settings for metric {name}")
    metric_cls.check_settings(resolved)
    return resolved


def build_plan(config: RunConfig) -> Plan:
    benchmark = get_benchmark(config.benchmark)
    actions = {a.name: a for a in resolve_actions(benchmark, config.actions)}
    methods = METHODS.resolve(config.methods)
    metrics = METRICS.resolve(config.metrics)
    unknown = set(config.method_settings) - set(METHODS.names())
    if unknown:
        raise ActionBenchError(f"settings given for unknown method '{sorted(unknown)[0]}'",
                               f"choose one of {', '.join(METHODS.names())}")
    unknown = set(config.metric_settings) - set(METRICS.names())
    if unknown:
        raise ActionBenchError(f"settings given for unknown metric '{sorted(unknown)[0]}'",
                               f"choose one of {', '.join(sorted(METRICS.names()))}")
    # every metric given settings is checked, run or not: a typo in a config file is caught either way
    metric_configs = {m: metric_config(m, benchmark, config.metric_settings.get(m, {}))
                      for m in dict.fromkeys(list(config.metric_settings) + metrics)}
    base_name = config.base_model or benchmark.defaults.get("base_model")
    if not base_name:
        raise ActionBenchError(f"benchmark {benchmark.name} names no default base model",
                               "pass --base-model NAME_OR_PATH")
    base = resolve_base_model(base_name)
    base.check_available()
    for action in actions.values():
        check_exemplars_readable(action)
    scorer_defaults = benchmark.defaults.get("scorers", {})
    scorers = dataclasses.replace(config.scorers, **{
        k: v for k, v in scorer_defaults.items() if getattr(config.scorers, k, None) is None})
    scorers = from_dict(ScorerConfig, dataclasses.asdict(scorers), "scorers")
    runs_here = config.executor == "local"  # another executor's workers may have GPUs this machine lacks
    check_device(config.device, "--device", runs_here)
    check_device(scorers.device, "scorers.device", runs_here)
    protocol = benchmark.protocol
    seeds = check_seeds(config.seeds, "the run's seeds") if config.seeds else list(protocol.seeds)
    references = {}
    for name in metrics:
        reference = METRICS.get(name).reference_method
        if reference:
            references[name] = METHODS.resolve([reference])[0]
    protocol_defaults = {"num_inference_steps": protocol.num_inference_steps,
                         "guidance_scale": protocol.guidance_scale}
    all_methods = list(dict.fromkeys(methods + list(references.values())))
    method_configs = {m: method_config(m, benchmark, config, protocol_defaults) for m in all_methods}
    plan = Plan(config=config, benchmark=benchmark, base=base, actions=actions, methods=methods,
                metrics=metrics, seeds=seeds, scorers=scorers, scorer_versions=scorer_versions(scorers),
                method_configs=method_configs,
                metric_configs={m: metric_configs[m] for m in metrics},
                references=references, requests=image_requests(benchmark, seeds))
    if _is_all(config.actions):
        plan.notices += [left_out_notice(a, benchmark) for a in foreign_actions(benchmark)]
    check_methods(plan, requested_all=_is_all(config.methods))
    compute_keys(plan)
    return plan


def _is_all(spec: str | list[str]) -> bool:
    names = spec.split(",") if isinstance(spec, str) else list(spec)
    return [n.strip() for n in names if n.strip()] == ["all"]


def check_methods(plan: Plan, requested_all: bool) -> None:
    """Each method checks each action before any work starts. A method that cannot run here
    (``Unavailable``: weights not supplied) is left out of ``all`` with a notice; named, it stops the run."""
    for method in list(plan.methods):
        for action in plan.actions.values():
            try:
                METHODS.get(method)().check(action, plan.method_configs[method])
            except Unavailable as reason:
                if not requested_all:
                    raise
                plan.methods.remove(method)
                plan.notices.append(f"method {method} left out: {reason}")
                break
    if not plan.methods:
        raise ActionBenchError("no method can run here", "; ".join(plan.notices))


def check_exemplars_readable(action: Action) -> None:
    """Open every exemplar once, so a corrupt photo stops the run before training, not during it."""
    from actionbench.imageio import open_rgb

    for exemplar in action.exemplars:
        open_rgb(exemplar.image_path)


def image_requests(benchmark: Benchmark, seeds: list[int]) -> list[ImageRequest]:
    protocol = benchmark.protocol
    requests = []
    for subject in protocol.subjects:
        for seed in seeds:
            for index in range(protocol.images_per_prompt):
                generator_seed = seed if index == 0 else int(stable_hash([seed, index], 8), 16) % (2**31)
                requests.append(ImageRequest(f"{subject.name}-s{seed}-{index}", subject, seed, index,
                                             generator_seed, protocol.prompt(subject)))
    return requests


def compute_keys(plan: Plan) -> None:
    """Each stage's key hashes everything its output depends on, including the previous stage's key.

    A method's settings are split by stage (``Method.key_settings``): training hashes its own fields
    and the generation settings the method declares it samples with; generation hashes the rest, so
    a generation-only change regenerates and rescores without retraining."""
    from actionbench import RUN_FORMAT_VERSION

    settings = {m: METHODS.get(m)().key_settings(c) for m, c in plan.method_configs.items()}
    for unit in plan.all_units():
        action = plan.actions.get(unit.action) if unit.action else None
        train = stable_hash({"format": RUN_FORMAT_VERSION, "method": unit.method,
                             "config": settings[unit.method]["train"], "base": plan.base.identity,
                             "action": action.version if action else None})
        generate = stable_hash({"train": train, "config": settings[unit.method]["generate"],
                                "requests": plan.requests})
        plan.keys[(unit, "train")] = train
        plan.keys[(unit, "generate")] = generate
    for unit in plan.units:
        references = {m: plan.keys[(Unit(ref, None), "generate")] for m, ref in plan.references.items()}
        plan.keys[(unit, "score")] = stable_hash({
            "generate": plan.keys[(unit, "generate")], "metrics": plan.metrics, "references": references,
            "metric_settings": {m: plan.metric_configs[m] for m in plan.metrics},
            "metric_versions": {m: METRICS.get(m).version for m in plan.metrics},
            "scorers": plan.scorers, "scorer_versions": plan.scorer_versions,
            "benchmark": plan.benchmark.version})
