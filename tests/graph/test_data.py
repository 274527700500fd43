import shutil

import pytest
import torch

from graphdistill.core import InputError
from graphdistill.graph.data import load_node_graph


def test_cora_public_split(cora):
    assert cora.num_nodes == 2708
    assert cora.edge_index.shape == (2, 10556)
    assert cora.num_features == 1433 and cora.num_classes == 7
    assert (len(cora.train_idx), len(cora.val_idx), len(cora.test_idx)) == (140, 500, 1000)
    assert torch.equal(cora.train_idx, torch.arange(140))
    # row-normalised features: every non-empty row sums to one
    torch.testing.assert_close(cora.x.sum(1), torch.ones(2708))


def test_missing_raw_file_is_named_and_nothing_is_downloaded(tmp_path, data_root):
    raw = tmp_path / "planetoid" / "Cora" / "raw"
    shutil.copytree(data_root / "planetoid" / "Cora" / "raw", raw)
    (raw / "ind.cora.graph").unlink()
    with pytest.raises(InputError, match=r"raw file not found.*ind\.cora\.graph"):
        load_node_graph("cora", tmp_path)
    assert not (tmp_path / "planetoid" / "Cora" / "processed").exists()


def test_unknown_dataset(tmp_path):
    with pytest.raises(InputError, match="unknown dataset 'imagenet'"):
        load_node_graph("imagenet", tmp_path)


def test_pubmed_without_allx_fails_offline_with_a_clear_error(data_root):
    with pytest.raises(InputError, match=r"ind\.pubmed\.allx"):
        load_node_graph("pubmed", data_root)

