"""Fault injection: a real ``condense`` SIGKILLed while writing a checkpoint, after staging its output and
between the two renames of an overwrite; ``--resume`` then ends with the data of an uninterrupted run."""
import os
import shutil
import signal
import subprocess
import sys

import numpy as np
import pytest
import torch

from graphdistill.core.atomic import CRASH_VARIABLE

RUNS = {
    "graph": (["graph", "--dataset", "cora", "--method", "gcond-x", "--budget", "14", "--set", "epochs=8",
               "--set", "outer_steps=2", "--set", "checkpoint_every=2", "--set", "select_every=0"], "graph.pt"),
    "recsys": (["recsys", "--dataset", "ml-100k-fixed", "--users", "6", "--set", "steps=8", "--set", "eval_every=2",
                "--set", "checkpoint_every=2"], "distilled.npz"),
    "images": (["images", "--dataset", "digits", "--method", "dm", "--ipc", "1", "--iterations", "8",
                "--set", "checkpoint_every=2", "--set", "batch_real=16"], "images.pt"),
}
POINTS = ["checkpoint-written@1", "checkpoint-written@3", "output-staged", "output-between-renames"]


def _condense(args, out, data_root, crash=None, *extra):
    env = {k: v for k, v in os.environ.items() if k != CRASH_VARIABLE}
    env["GRAPHDISTILL_DATA"] = str(data_root)
    if crash:
        env[CRASH_VARIABLE] = crash
    return subprocess.run([sys.executable, "-m", "graphdistill.cli", "condense", *args, "--out", str(out), "--quiet",
                           *extra], env=env, capture_output=True, text=True)


def _data(out, file):
    if file.endswith(".npz"):
        with np.load(out / file) as stored:
            return {k: stored[k] for k in stored.files}
    return torch.load(out / file, weights_only=True)


def _same(a, b):
    return a.keys() == b.keys() and all(
        torch.equal(a[k], b[k]) if isinstance(a[k], torch.Tensor) else np.array_equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("modality", list(RUNS))
def test_a_run_killed_at_any_write_resumes_to_the_uninterrupted_result(modality, tmp_path, data_root):
    args, file = RUNS[modality]
    reference = tmp_path / "reference"
    assert _condense(args, reference, data_root).returncode == 0
    expected = _data(reference, file)
    for point in POINTS:
        out = tmp_path / point.replace("@", "-")
        extra = []
        if point == "output-between-renames":
            shutil.copytree(reference, out)  # an earlier output that --overwrite replaces
            extra = ["--overwrite"]
        killed = _condense(args, out, data_root, point, *extra)
        assert killed.returncode == -signal.SIGKILL, (point, killed.stderr[-500:])
        resumed = _condense(args, out, data_root, None, "--resume", *extra)
        assert resumed.returncode == 0, (point, resumed.stderr[-500:])
        assert _same(_data(out, file), expected), point
        assert not out.with_name(out.name + ".partial").exists()
