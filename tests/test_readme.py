"""The README's set-up commands and Python API examples run as written."""
import re
from pathlib import Path


README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def _api_examples() -> list[str]:
    section = README.split("## Python API", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, re.S)


def test_readme_starts_with_exactly_two_setup_commands():
    first = re.search(r"```bash\n(.*?)```", README, re.S).group(1).strip().splitlines()
    assert len(first) == 2 and first[0].startswith("pip install") and "pytest" in first[1]


def test_offline_api_examples_run_as_written(tmp_path, monkeypatch, capsys):
    offline = _api_examples()[0]
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GRAPHDISTILL_DATA", raising=False)
    exec(compile(offline, "README.md", "exec"), {})
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].startswith("torch.Size([20, 1682])")
    assert 5 < float(printed[1]) < 45 and 0.2 < float(printed[2]) <= 1
    assert (tmp_path / "runs" / "api-ml100k" / "ml-100k.inter").is_file()


def test_graph_api_example_runs_as_written(tmp_path, monkeypatch, capsys, data_root):
    monkeypatch.setenv("GRAPHDISTILL_DATA", str(data_root))
    monkeypatch.chdir(tmp_path)
    exec(compile(_api_examples()[1], "README.md", "exec"), {})
    nodes, selected = capsys.readouterr().out.splitlines()[0].split()
    assert nodes == "35" and int(selected) in (10, 20, 30)
