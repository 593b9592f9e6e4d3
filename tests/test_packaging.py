"""What `pip install .` ships: the data files as package data, one version, the console script."""
import configparser
import fnmatch
import importlib
import os
import subprocess
import sys
from pathlib import Path

import minidd
from minidd.data import files

ROOT = Path(__file__).resolve().parents[1]


def _setup_cfg():
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    return cfg


def test_every_data_file_is_package_data_and_found_there(monkeypatch):
    monkeypatch.delenv("MINIDD_DATA_DIR", raising=False)
    patterns = _setup_cfg()["options.package_data"]["minidd"].split()
    shipped = sorted((ROOT / "minidd" / "datasets").iterdir())
    assert shipped
    for path in shipped:
        rel = f"datasets/{path.name}"
        assert any(fnmatch.fnmatch(rel, p) for p in patterns), f"{rel} is not package data in setup.cfg"
        assert files.find(path.name) == Path(minidd.__file__).parent / rel


def test_one_version_source_and_the_console_script_exists():
    cfg = _setup_cfg()
    assert cfg["metadata"]["version"] == "attr: minidd.__version__"
    [script] = [line for line in cfg["options.entry_points"]["console_scripts"].splitlines() if line.strip()]
    name, target = (s.strip() for s in script.split("="))
    module, func = target.split(":")
    assert name == "minidd-experiments" and callable(getattr(importlib.import_module(module), func))
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")


def test_python_m_minidd_is_the_main_job(tmp_path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run([sys.executable, "-m", "minidd", "--version"], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == f"minidd {minidd.__version__}"
    usage = subprocess.run([sys.executable, "-m", "minidd", "--epochs", "0"], cwd=tmp_path, env=env,
                           capture_output=True, text=True, timeout=60)
    assert usage.returncode == 2 and usage.stderr.startswith("usage: python -m minidd")
