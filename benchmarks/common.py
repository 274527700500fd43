"""Helpers every benchmark script shares: run the CLI in a child process, keep a resumable results file."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import numpy as np

HERE = Path(__file__).resolve().parent


def cli(*args: str) -> list[str]:
    """The ``graphdistill`` command line run by this interpreter."""
    return [sys.executable, "-m", "graphdistill.cli", *args]


def run_json(cmd: list[str]) -> dict:
    """Run ``cmd`` from the repository root and parse the JSON object on its last output line.

    Not from ``benchmarks/``: there ``recsys.py`` (and ``images.py``) would shadow the packages of those names.
    """
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=HERE.parent)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def absolute(path: str | None) -> str | None:
    """A command-line path made absolute, since the child processes run from the repository root."""
    return str(Path(path).resolve()) if path else None


def mean_std(values: list[float]) -> tuple[float, float]:
    return float(np.mean(values)), float(np.std(values))


class ResultsFile:
    """``<prefix>.json`` (every finished entry, so an interrupted benchmark resumes) + ``<prefix>.md``."""

    def __init__(self, prefix: str, render: Callable[[dict], str], machine: dict):
        self.json, self.md, self.render = Path(prefix + ".json"), Path(prefix + ".md"), render
        self.json.parent.mkdir(parents=True, exist_ok=True)
        self.results = json.loads(self.json.read_text()) if self.json.exists() else {"runs": {}}
        self.results["command"] = " ".join([Path(sys.executable).name, *sys.argv])
        self.results["machine"] = machine

    @property
    def runs(self) -> dict:
        return self.results["runs"]

    def add(self, key: str, entry: dict) -> None:
        self.runs[key] = {**entry, "command": self.results["command"]}
        self.save()

    def save(self) -> None:
        self.results["updated"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
        tmp = self.json.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(self.results, indent=2) + "\n")
        os.replace(tmp, self.json)
        self.md.write_text(self.render(self.results))


def machine_line(results: dict) -> str:
    machine = results["machine"]
    return (f"Machine: {machine['processor']}, {machine['cpu_count']} CPUs ({machine['torch_threads']} torch threads), "
            f"{machine['platform']}, device {machine.get('device')} {machine.get('device_name', '')}; "
            f"torch {machine['torch']}, graphdistill {machine['graphdistill']}.")


def commands_lines(results: dict) -> list[str]:
    commands = sorted({run.get("command", results["command"]) for run in results["runs"].values()})
    return ["Commands (each entry of the JSON file names the one that made it):", "",
            *[f"- `{command}`" for command in commands], ""]
