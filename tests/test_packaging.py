"""methods/, metrics/, perception/ and reports/ install under the actionbench namespace, never as top-level packages."""

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MAPPED = {"methods": "actionbench.methods", "metrics": "actionbench.metrics", "perception": "actionbench.perception",
          "reports": "actionbench.reports"}


def test_every_package_folder_is_listed_in_pyproject():
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(setuptools["packages"])
    found = set()
    for init in ROOT.glob("**/__init__.py"):
        parts = init.parent.relative_to(ROOT).parts
        if parts[0] in ("tests", "benchmarks", "docs") or any(p.startswith(".") for p in parts):
            continue
        top = MAPPED.get(parts[0], parts[0])
        found.add(".".join([top, *parts[1:]]))
    assert found == listed
    assert setuptools["package-dir"] == {"actionbench": "actionbench", **{v: k for k, v in MAPPED.items()}}


def test_no_global_metrics_or_methods_package_is_importable_outside_the_checkout(tmp_path):
    probe = ("import importlib.util as u, actionbench.metrics as m, actionbench.methods as t, actionbench.reports as r,"
             " actionbench.perception as p;"
             "print(u.find_spec('metrics'), u.find_spec('methods'), u.find_spec('reports'), u.find_spec('perception'));"
             "print(m.__name__, t.__name__, r.__name__, p.__name__)")
    out = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, check=True).stdout
    assert out.splitlines() == ["None None None None",
                                "actionbench.metrics actionbench.methods actionbench.reports actionbench.perception"]


def test_the_cli_entry_point_is_installed():
    out = subprocess.run([Path(sys.executable).parent / "actionbench", "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.startswith("actionbench ")
