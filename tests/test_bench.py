"""The benchmark runner: one process per condensation, resumable rows, JSON + Markdown + PNG, README blocks."""
import json
from pathlib import Path

import pytest

from graphdistill.bench import load_spec
from graphdistill.cli import main
from graphdistill.core.errors import InputError

REPO = Path(__file__).resolve().parent.parent

TINY = '''title = "tiny"
[[entry]]
name = "digits-random"
modality = "images"
dataset = "digits"
method = "random"
budgets = [1, 3]
seeds = [0, 1]
[[entry.evaluation]]
label = "mlp"
args = { arch = "mlp", runs = 1, epochs = 3, augment = "none" }

[[entry]]
name = "ml100k-full"
modality = "recsys"
dataset = "ml-100k"
[[entry.evaluation]]
label = "infae"
'''


@pytest.mark.parametrize("spec", sorted((REPO / "benchmarks" / "specs").glob("*.toml")), ids=lambda p: p.stem)
def test_every_shipped_spec_is_valid(spec):
    entries = load_spec(spec)["entry"]
    assert entries and all(e["modality"] in ("graph", "graphs", "recsys", "images") for e in entries)


def test_a_spec_runs_resumes_and_renders(tmp_path, capsys):
    spec = tmp_path / "specs" / "tiny.toml"
    spec.parent.mkdir()
    spec.write_text(TINY)
    results = tmp_path / "results"
    argv = ["bench", str(spec), "--results", str(results), "--workdir", str(tmp_path / "work")]
    assert main([*argv, "--budget", "1"]) == 0  # only budget 1 (and the entry without budgets)
    assert sorted(json.loads((results / "tiny.json").read_text())["rows"]) == [
        "digits-random/1/0/mlp", "digits-random/1/1/mlp", "ml100k-full/None/0/infae"]
    assert main([*argv, "--resume"]) == 0  # adds budget 3, keeps the rest
    data = json.loads((results / "tiny.json").read_text())
    assert len(data["rows"]) == 5 and data["machine"]["cpu_count"] >= 1
    row = data["rows"]["digits-random/3/1/mlp"]
    assert row["metric"] == "test_acc_mean" and 0 < row["value"] <= 1 and row["peak_rss_mib"] > 0
    assert row["condense_wall_s"] > 0 and "--ipc 3" in row["condense_command"]
    full = data["rows"]["ml100k-full/None/0/infae"]
    assert full["metric"] == "ndcg@10" and 20 < full["value"] < 45
    table = (results / "tiny.md").read_text()
    assert "| digits | digits-random | random | 3 | mlp | 0,1 | 2 |" in table
    for plot in ("tiny-budget.png", "tiny-time.png"):
        assert (results / plot).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # --resume runs nothing that is already there (a row edited by hand survives)
    data["rows"]["digits-random/1/0/mlp"]["value"] = 0.123
    (results / "tiny.json").write_text(json.dumps(data))
    assert main([*argv, "--resume"]) == 0
    assert json.loads((results / "tiny.json").read_text())["rows"]["digits-random/1/0/mlp"]["value"] == 0.123
    readme = tmp_path / "README.md"
    readme.write_text("intro\n<!-- bench:tiny -->\nstale\n<!-- /bench:tiny -->\nend\n")
    assert main([*argv, "--render", "--readme", str(readme)]) == 0
    text = readme.read_text()
    assert "stale" not in text and "| digits | digits-random |" in text and text.endswith("<!-- /bench:tiny -->\nend\n")


def test_bad_specs_are_refused(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text('[[entry]]\nname = "a"\nmodality = "images"\ndataset = "digits"\nmethod = "dm"\n')
    with pytest.raises(InputError, match="lists no budgets"):
        load_spec(bad)
    assert main(["bench", str(tmp_path / "none.toml")]) == 2
    assert "config file not found" in capsys.readouterr().err


def test_committed_smoke_results_exist_and_parse():
    results = REPO / "benchmarks" / "results"
    data = json.loads((results / "smoke.json").read_text())
    modalities = {row["modality"] for row in data["rows"].values()}
    assert modalities == {"graph", "recsys", "images"}
    assert all(row["peak_rss_mib"] > 0 and row["condense_wall_s"] > 0 for row in data["rows"].values())
    assert (results / "smoke.md").read_text().startswith("# Smoke")
    for plot in ("smoke-budget.png", "smoke-time.png"):
        assert (results / plot).read_bytes()[:4] == b"\x89PNG"


COST = '''title = "cost"
[[entry]]
name = "scaling"
modality = "graph"
dataset = "{dataset}"
method = "random"
measure = "cost"
budgets = [6]
seeds = [0]
'''


def test_cost_entries_record_wall_time_and_memory_against_edges(tmp_path):
    spec = tmp_path / "specs" / "cost.toml"
    spec.parent.mkdir()
    spec.write_text(COST.format(dataset="csbm:nodes=300,classes=3,features=4,degree=4,homophily=0.7") +
                    COST.format(dataset="csbm:nodes=900,classes=3,features=4,degree=8,homophily=0.7")
                    .replace('title = "cost"\n', "").replace('"scaling"', '"scaling-large"'))
    results = tmp_path / "results"
    assert main(["bench", str(spec), "--results", str(results), "--workdir", str(tmp_path / "work")]) == 0
    rows = json.loads((results / "cost.json").read_text())["rows"]
    assert sorted(rows) == ["scaling-large/6/0/cost", "scaling/6/0/cost"]
    small, large = rows["scaling/6/0/cost"], rows["scaling-large/6/0/cost"]
    assert small["metric"] == "condense_wall_s" and small["value"] == small["condense_wall_s"] > 0
    assert small["meta"]["graph"]["nodes"] == 300 and large["meta"]["graph"]["edges"] > 4 * small["meta"]["graph"]["edges"]
    assert "bytes per edge" in (results / "cost.md").read_text()
    assert (results / "cost-scaling.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cost_entries_need_a_method_and_no_evaluation(tmp_path):
    spec = tmp_path / "bad.toml"
    spec.write_text(COST.format(dataset="cora") + '[[entry.evaluation]]\nlabel = "gcn"\n')
    with pytest.raises(InputError, match="cost entry 'scaling' needs a method and no"):
        load_spec(spec)


def test_pivot_table_has_a_column_per_evaluation_and_the_stored_values(tmp_path):
    from graphdistill.bench import Results, pivot_table

    results = Results(tmp_path / "t.json", "t")
    results.data["pivot"] = ["ndcg@10", "hr@10"]

    def row(entry, method, seed, label, ndcg, hr, meta=None, budget=50):
        results.rows[f"{entry}/{budget}/{seed}/{label}"] = {
            "entry": entry, "method": method, "dataset": "ml", "budget": budget, "seed": seed, "evaluation": label,
            "metrics": {"ndcg@10": ndcg, "hr@10": hr, "stored_values": 1000}, "meta": meta or {}}

    stored = {"compression": {"stored_values": 250, "values_ratio": 0.25}}
    row("dcf", "distill-cf", 0, "infae", 30.0, 40.0, stored)
    row("dcf", "distill-cf", 1, "infae", 32.0, 42.0, stored)
    row("dcf", "distill-cf", 0, "EASE", 20.0, 25.0, stored)
    row("full", "full", 0, "infae", 35.0, 45.0, budget=None)
    lines = pivot_table(results).splitlines()
    assert lines[0] == "| dataset | budget | entry | stored values | infae | EASE |"
    assert lines[2] == "| | | | | ndcg@10 / hr@10 | ndcg@10 / hr@10 |"
    assert lines[3] == "| ml | full | full | 1,000 (1.00x) | 35.00 +- 0.00 / 45.00 +- 0.00 | - |"
    assert lines[4] == "| ml | 50 | dcf | 250 (0.25x) | 31.00 +- 1.00 / 41.00 +- 1.00 | 20.00 +- 0.00 / 25.00 +- 0.00 |"


def test_rows_written_by_another_run_meanwhile_are_kept(tmp_path):
    from graphdistill.bench import Results

    path = tmp_path / "t.json"
    first, second = Results(path, "t"), Results(path, "t")
    first.add("a/1/0/gcn", {"value": 1})
    second.add("b/1/0/gcn", {"value": 2})
    first.add("a/2/0/gcn", {"value": 3})
    assert set(json.loads(path.read_text())["rows"]) == {"a/1/0/gcn", "b/1/0/gcn", "a/2/0/gcn"}
