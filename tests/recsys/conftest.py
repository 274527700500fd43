from pathlib import Path

import pytest


def write_inter(path: Path, rows, header="user_id:token\titem_id:token\trating:float\ttimestamp:float") -> Path:
    """Write a RecBole atomic file from ``rows`` (tuples, or raw strings written as they are)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [header] + ["\t".join(map(str, row)) if not isinstance(row, str) else row for row in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="session")
def ml100k(data_root):
    from recsys.data import load_interactions
    from recsys.infae import EvaluationSetup

    return EvaluationSetup.of(load_interactions("ml-100k-fixed", data_root))
