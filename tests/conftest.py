import os
import warnings
from pathlib import Path

import pytest

warnings.filterwarnings("ignore", message=".*[Ss]parse.*")


@pytest.fixture(scope="session")
def data_root() -> Path:
    """The shared read-only data folder; tests never download."""
    root = os.environ.get("GRAPHDISTILL_DATA")
    if not root:
        pytest.skip("GRAPHDISTILL_DATA is not set (CI sets it to ../shared/data)")
    path = Path(root)
    assert path.is_dir(), f"GRAPHDISTILL_DATA={root} does not exist"
    return path


@pytest.fixture(scope="session")
def cora(data_root):
    from graphdistill.graph.data import load_node_graph

    return load_node_graph("cora", data_root)
