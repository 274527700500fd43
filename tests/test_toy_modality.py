"""A modality added from outside the package: registered through an entry point of a throw-away
distribution, then condensed, saved, loaded and evaluated through the CLI and the Python API."""
import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import graphdistill
from graphdistill.core.modality import modalities

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def plugin_site(tmp_path, monkeypatch):
    """A site folder holding only a ``.dist-info`` whose entry point names the toy modality."""
    site = tmp_path / "site"
    info = site / "toy_points-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: toy-points\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[graphdistill.modalities]\npoints = tests.toy.points:POINTS\n")
    monkeypatch.syspath_prepend(str(site))
    importlib.invalidate_caches()
    return site


def test_the_toy_modality_is_found_only_through_its_entry_point(plugin_site):
    found = modalities()
    assert {"graph", "recsys", "images", "points"} <= set(found)
    assert type(found["points"]).__module__ == "tests.toy.points"


def test_cli_condenses_saves_and_evaluates_the_toy_modality(plugin_site, tmp_path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(plugin_site), str(REPO)])}
    cli = [sys.executable, "-m", "graphdistill.cli"]
    help_text = subprocess.run([*cli, "condense", "points", "--help"], env=env, capture_output=True, text=True).stdout
    assert "--ipc" in help_text and "dm, random" in help_text
    out = tmp_path / "dm"
    done = subprocess.run([*cli, "condense", "points", "--dataset", "blobs", "--ipc", "2", "--out", str(out), "--json"],
                          env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    meta = json.loads((out / "meta.json").read_text())
    assert meta["modality"] == "points" and meta["budget"] == 2 and meta["epochs_run"] == 60
    scores = []
    for condensed in (out, None):
        extra = ["--condensed", str(condensed)] if condensed else []
        done = subprocess.run([*cli, "evaluate", "points", "--dataset", "blobs", *extra, "--json"],
                              env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        scores.append(json.loads(done.stdout.splitlines()[-1])["test_acc_mean"])
    assert scores[0] > 0.6 and scores[1] > 0.6
    bad = subprocess.run([*cli, "condense", "points", "--dataset", "moons", "--ipc", "2", "--out", str(tmp_path / "x")],
                         env=env, capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.strip() == "graphdistill: error: unknown points dataset 'moons'; choose blobs"


def test_python_api_runs_the_toy_modality(plugin_site, tmp_path):
    dm = graphdistill.condense("points", dataset="blobs", method="dm", ipc=2, seed=1, out=tmp_path / "dm")
    random = graphdistill.condense("points", dataset="blobs", method="random", ipc=2, seed=1)
    assert dm.data["x"].shape == (6, 8) and dm.meta["modality"] == "points" and len(dm.history) == 60
    assert dm.history[-1]["loss"] < dm.history[0]["loss"]
    x, y = graphdistill.load_condensed(tmp_path / "dm")
    assert torch.equal(x, dm.data["x"]) and torch.equal(y, random.data["y"])
    distilled = graphdistill.evaluate("points", dataset="blobs", condensed=str(tmp_path / "dm"), runs=3)
    assert distilled["test_acc_mean"] > 0.6 and distilled["modality"] == "points"
    with pytest.raises(graphdistill.core.InputError, match="unknown option"):
        graphdistill.condense("points", dataset="blobs", ipc=2, ipcs=3)
