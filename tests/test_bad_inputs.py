"""Every bad input a hostile user tried: exit code 2, one stderr line naming the problem, and nothing new
next to --out or under the data root."""
import gzip
import os
from pathlib import Path

import pytest
import torch

from graphdistill.cli import main
from tests.recsys.conftest import write_inter


def _tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


@pytest.fixture
def workspace(tmp_path, monkeypatch, data_root):
    """``work/`` (the working directory, holding a few earlier runs and files) and ``data/`` (a small data root
    with a corrupt MNIST and malformed logs), plus the shared data root."""
    work, data = tmp_path / "work", tmp_path / "data"
    (work / "runs" / "notes").mkdir(parents=True)
    (work / "runs" / "notes" / "todo.txt").write_text("keep me")
    (work / "a-file.txt").write_text("not a directory")
    torch.save({"x": torch.zeros(3, 1, 8, 8), "y": torch.arange(3)}, work / "images.pt")
    (work / "digits-run").mkdir()
    torch.save({"x": torch.zeros(3, 1, 8, 8), "y": torch.arange(3)}, work / "digits-run" / "images.pt")
    (work / "digits-run" / "meta.json").write_text('{"modality": "images"}')
    torch.save({"x": torch.full((10, 1, 8, 8), float("nan")), "y": torch.arange(10)}, work / "images.pt")
    (work / "nan-images").mkdir()
    (work / "images.pt").rename(work / "nan-images" / "images.pt")
    (work / "garbage.pt").write_bytes(b"\x80\x02garbage")
    (work / "bad.toml").write_text("epochs = [1,\n")
    (work / "gd.partial").mkdir()
    (work / "gd.partial" / "checkpoint.pt").write_bytes(b"not a checkpoint")
    raw = data / "images" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    header = b"\x00\x00\x08\x03" + b"".join(n.to_bytes(4, "big") for n in (2, 28, 28))
    flipped = bytearray(gzip.compress(header + bytes(2 * 784)))
    flipped[len(flipped) // 2] ^= 0xFF
    for stem in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        (raw / f"{stem}.gz").write_bytes(bytes(flipped))
    write_inter(data / "recsys" / "noheader" / "noheader.inter", [("u1", "i1", "1")], header="user_id\titem_id\trating")
    latin = data / "recsys" / "latin" / "latin.inter"
    latin.parent.mkdir(parents=True)
    latin.write_bytes(b"user_id:token\titem_id:token\nu1\ti1\nu2\tcaf\xe9\n")
    _tiny_tu_folders(data / "TUDataset")
    monkeypatch.chdir(work)
    return {"work": work, "data": data, "shared": data_root}


def _tiny_tu_folders(root: Path) -> None:
    """Broken TU folders: a missing label file, a graph without nodes, node labels of another length."""
    def write(name: str, files: dict[str, str]) -> None:
        (root / name / "raw").mkdir(parents=True)
        for suffix, text in files.items():
            (root / name / "raw" / f"{name}_{suffix}.txt").write_text(text)

    ok = {"A": "1, 2\n2, 1\n3, 4\n4, 3\n", "graph_indicator": "1\n1\n2\n2\n", "graph_labels": "1\n-1\n",
          "node_labels": "0\n1\n0\n1\n"}
    write("NOLABELS", {k: v for k, v in ok.items() if k != "graph_labels"})
    write("EMPTYGRAPH", {**ok, "graph_labels": "1\n-1\n1\n"})
    write("SHORTNODES", {**ok, "node_labels": "0\n1\n0\n"})


def _cases(w):
    shared, data = str(w["shared"]), str(w["data"])
    graph = ["condense", "graph", "--data-root", shared, "--dataset", "cora", "--quiet"]
    recsys = ["condense", "recsys", "--data-root", shared, "--dataset", "ml-100k-fixed", "--quiet"]
    graphs = ["condense", "graphs", "--data-root", data, "--per-class", "1", "--out", "o", "--quiet"]
    images = ["condense", "images", "--dataset", "digits", "--quiet", "--ipc", "1"]
    return [
        # unknown names, impossible budgets, bad settings and configs
        (graph + ["--dataset", "imagenet", "--budget", "35", "--out", "o"], ["unknown dataset 'imagenet'"]),
        (graph + ["--method", "gcnd", "--budget", "35", "--out", "o"], ["unknown method 'gcnd'"]),
        (graph + ["--budget", "5", "--out", "o"], ["below the number of classes"]),
        (graph + ["--budget", "500", "--out", "o"], ["above the 140 training nodes"]),
        (graph + ["--budget", "35", "--set", "lr=1", "--out", "o"], ["unknown setting 'lr'"]),
        (graph + ["--budget", "35", "--set", "epochs=true", "--out", "o"], ["'epochs' expects int, got true"]),
        (graph + ["--budget", "35", "--set", "lr_feat=nan", "--out", "o"], ["'lr_feat' must be a finite number"]),
        (graph + ["--budget", "35", "--set", "novalue", "--out", "o"], ["--set expects key=value"]),
        (graph + ["--budget", "35", "--config", "bad.toml", "--out", "o"], ["malformed TOML in bad.toml"]),
        (graph + ["--budget", "35", "--config", "none.toml", "--out", "o"], ["config file not found: none.toml"]),
        (graph + ["--budget", "35", "--device", "cuda:7", "--out", "o"] if not torch.cuda.is_available()
         else graph + ["--budget", "35", "--device", "tpu", "--out", "o"], ["device"]),
        # data roots
        (["condense", "graph", "--data-root", "/nonexistent", "--dataset", "cora", "--budget", "35", "--out", "o"],
         ["data root /nonexistent (from --data-root) is not an existing folder"]),
        (["condense", "recsys", "--data-root", "/nonexistent", "--dataset", "ml-100k", "--users", "5", "--out", "o"],
         ["data root /nonexistent", "not an existing folder"]),
        (["condense", "images", "--data-root", "/nonexistent", "--dataset", "mnist", "--ipc", "1", "--out", "o"],
         ["data root /nonexistent", "not an existing folder"]),
        (["condense", "graph", "--dataset", "cora", "--budget", "35", "--out", "o"],
         ["Planetoid raw files", "not found: no data root (pass --data-root DIR or set GRAPHDISTILL_DATA, or --download"]),
        (["condense", "images", "--dataset", "mnist", "--ipc", "1", "--out", "o"], ["MNIST's IDX files", "no data root"]),
        # --out and --overwrite
        (graph + ["--budget", "35", "--out", ".", "--overwrite"], ["refusing --out .", "working directory"]),
        (graph + ["--budget", "35", "--out", "..", "--overwrite"], ["refusing --out ..", "one of its parents"]),
        (graph + ["--budget", "35", "--out", "/", "--overwrite"], ["refusing --out /", "file-system root"]),
        (graph + ["--budget", "35", "--out", str(Path.home()), "--overwrite"], ["home directory"]),
        (graph + ["--budget", "35", "--out", "runs", "--overwrite"], ["refusing to overwrite runs", "not a graphdistill output"]),
        (graph + ["--budget", "35", "--out", "runs"], ["output directory runs already exists"]),
        (graph + ["--budget", "35", "--out", "digits-run", "--overwrite"], ["an output of modality images"]),
        (graph + ["--budget", "35", "--out", str(Path(shared) / "x"), "--overwrite"], ["overlaps the data root"]),
        (graph + ["--budget", "35", "--out", "a-file.txt"], ["--out a-file.txt exists and is not a directory"]),
        (graph + ["--budget", "35", "--out", "a-file.txt/sub"], ["not a writable directory"]),
        (graph + ["--budget", "35", "--out", "gd", "--resume"], ["unreadable checkpoint file", "gd.partial"]),
        # graph evaluation
        (["evaluate", "graph", "--data-root", shared, "--dataset", "cora", "--condensed", "/nonexistent"],
         ["no condensed graph at /nonexistent"]),
        (["evaluate", "graph", "--data-root", shared, "--dataset", "cora", "--feat", "garbage.pt", "--adj", "garbage.pt"],
         ["unreadable feature file garbage.pt", "not a tensor file"]),
        (["evaluate", "graph", "--data-root", shared, "--dataset", "cora", "--whole", "--arch", "gat"],
         ["unknown architecture 'gat'"]),
        # interaction logs
        (recsys + ["--users", "0", "--out", "o"], ["--users 0 is impossible"]),
        (recsys + ["--users", "5", "--keep-fraction", "2", "--out", "o"], ["--keep-fraction must be in (0, 1]"]),
        (recsys + ["--users", "5", "--set", "gamma=0", "--out", "o"], ["impossible Distill-CF settings"]),
        (["condense", "recsys", "--data-root", data, "--dataset", "latin", "--users", "1", "--out", "o"],
         ["latin.inter, line 3: not UTF-8"]),
        (["condense", "recsys", "--data-root", data, "--dataset", "noheader", "--users", "1", "--out", "o"],
         ["typed header"]),
        (["condense", "recsys", "--data-root", data, "--dataset", "nope", "--users", "1", "--out", "o"],
         ["interaction log 'nope'", "not found; looked at"]),
        (["evaluate", "recsys", "--data-root", shared, "--dataset", "ml-100k-fixed", "--model", "svd"], ["unknown model 'svd'"]),
        (["evaluate", "recsys", "--data-root", shared, "--dataset", "ml-100k-fixed", "--model", "recbole:BPR"], ["BPR"]),
        # images
        (images + ["--iterations", "-3", "--out", "o"], ["iterations must be at least 0, got -3"]),
        (images[:-2] + ["--ipc", "0", "--out", "o"], ["--ipc 0 is impossible"]),
        (["condense", "images", "--data-root", data, "--dataset", "mnist", "--ipc", "1", "--out", "o"], ["corrupt IDX file"]),
        (["evaluate", "images", "--dataset", "digits", "--condensed", "nan-images"], ["NaN"]),
        (["evaluate", "images", "--dataset", "digits", "--condensed", "digits-run", "--arch", "resnet"],
         ["unknown architecture 'resnet'"]),
        (["evaluate", "images", "--dataset", "digits", "--condensed", "/nonexistent"], ["no condensed images at /nonexistent"]),
        # graph sets
        (graphs + ["--dataset", "NOLABELS"], ["NOLABELS_graph_labels.txt", "not found"]),
        (graphs + ["--dataset", "EMPTYGRAPH"], ["graph 3 of 3 has no nodes"]),
        (graphs + ["--dataset", "SHORTNODES"], ["SHORTNODES_node_labels.txt has 3 lines", "has 4"]),
        (["condense", "graphs", "--data-root", shared, "--dataset", "MUTAG", "--per-class", "60", "--out", "o",
          "--quiet"], ["class 0 has 51 training graphs, fewer than --per-class 60"]),
        (["condense", "graphs", "--data-root", shared, "--dataset", "MUTAG", "--per-class", "0", "--out", "o"],
         ["--per-class must be at least 1"]),
        (["evaluate", "graphs", "--data-root", shared, "--dataset", "MUTAG", "--whole", "--arch", "gat"],
         ["unknown architecture 'gat'"]),
        # benchmark runner
        (["bench", "missing.toml"], ["config file not found: missing.toml"]),
        # usage mistakes caught by the argument parser
        (graph + ["--budget", "3", "--ratio", "0.5", "--out", "o"], ["--ratio: not allowed with argument --budget"]),
        (["evaluate", "graph", "--dataset", "cora"], ["one of the arguments --condensed --feat --whole is required"]),
        (["condense", "tabular", "--dataset", "x"], ["invalid choice: 'tabular'"]),
        (recsys + ["--users", "many", "--out", "o"], ["--users: invalid int value: 'many'"]),
    ]


def test_every_bad_input_is_one_line_with_exit_2_and_writes_nothing(workspace, capsys, monkeypatch):
    monkeypatch.delenv("GRAPHDISTILL_DATA", raising=False)
    before = {name: _tree(workspace[name]) for name in ("work", "data")}
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "graphdistill"
    cache_before = cache.exists()
    failures = []
    for argv, words in _cases(workspace):
        try:
            code = main(argv)
        except SystemExit as exit:  # the argument parser's own errors
            code = exit.code
        err = capsys.readouterr().err.strip().splitlines()
        line = err[-1] if err else ""
        if code != 2 or len(err) != 1 or not line.startswith("graphdistill: error: ") or not all(w in line for w in words):
            failures.append((argv, code, err, words))
        for name in ("work", "data"):
            if _tree(workspace[name]) != before[name]:
                failures.append((argv, "wrote", sorted(_tree(workspace[name]) - before[name])))
                before[name] = _tree(workspace[name])
    assert not failures, "\n".join(map(str, failures))
    assert cache.exists() == cache_before, "a download cache was created"
