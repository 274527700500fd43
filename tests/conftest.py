import os
import tempfile
import warnings
from pathlib import Path

import pytest

warnings.filterwarnings("ignore", message=".*[Ss]parse.*")

# Generated graphs (csbm) are cached; tests keep theirs out of the user's ~/.cache.
os.environ["GRAPHDISTILL_CACHE"] = tempfile.mkdtemp(prefix="graphdistill-test-cache-")

# The shared data folder sits beside the checkout (../shared/data); tests find it without GRAPHDISTILL_DATA.
_BESIDE = Path(__file__).resolve().parent.parent.parent / "shared" / "data"


def _shared_data() -> Path | None:
    root = os.environ.get("GRAPHDISTILL_DATA")
    if root:
        return Path(root).resolve()
    return _BESIDE if _BESIDE.is_dir() else None


@pytest.fixture(scope="session")
def data_root() -> Path:
    """The shared read-only data folder (absolute); tests never download."""
    root = _shared_data()
    if root is None:
        pytest.skip(f"no shared data: set GRAPHDISTILL_DATA (CI sets it to ../shared/data; looked at {_BESIDE})")
    assert root.is_dir(), f"GRAPHDISTILL_DATA={root} does not exist"
    return root


@pytest.fixture(scope="session")
def cora(data_root):
    from graphdistill.graph.data import load_node_graph

    return load_node_graph("cora", data_root)


def pytest_report_header(config):
    root = _shared_data()
    return f"graphdistill shared data: {root if root else 'none found; tests that need it are skipped (see -rs)'}"
