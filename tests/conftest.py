"""Test-wide settings: a private ACTIONBENCH_HOME, few threads, and where the shared fixtures are."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
TESTS = Path(__file__).resolve().parent
sys.path.insert(0, str(TESTS))  # tests/fixtures.py and tests/plugins/


def pytest_configure(config):
    # A private home for caches (the tiny pipeline is built once per session) unless one is given.
    if "ACTIONBENCH_HOME" not in os.environ:
        home = Path(os.environ.get("PYTEST_ACTIONBENCH_HOME", "/tmp/actionbench-test-home"))
        os.environ["ACTIONBENCH_HOME"] = str(home)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    # One CPU thread everywhere: in this process, in subprocesses and in Ray's workers (which Ray
    # gives OMP_NUM_THREADS=1). PyTorch's CPU reductions split by thread count, so images are equal to
    # the last bit only at equal thread counts; the tests compare runs byte for byte.
    os.environ["OMP_NUM_THREADS"] = "1"
    import torch

    torch.set_num_threads(1)


def shared_path(*parts: str) -> Path:
    """A path under ../shared, or a skip that says why when it is absent (a user's clone lacks it)."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is absent: these tests read the licensed fixtures in ../shared beside the project")
    return path


@pytest.fixture(scope="session")
def fixture_benchmark(tmp_path_factory) -> Path:
    from fixtures import write_benchmark

    return write_benchmark(tmp_path_factory.mktemp("benchmark") / "fixture")


@pytest.fixture(scope="session")
def tiny_pipeline_path():
    from actionbench.base_models import build_tiny_pipeline

    return build_tiny_pipeline()


@pytest.fixture()
def tiny_pipe(tiny_pipeline_path):
    """A fresh tiny random Stable Diffusion pipeline on the CPU."""
    from actionbench.base_models import resolve_base_model

    return resolve_base_model("tiny").load("cpu")
