import pytest

from graphdistill.core.config import build_config
from graphdistill.core.modality import _sections
from graphdistill.graph.methods import METHODS
from graphdistill.graph.modality import NODE_GRAPHS

_packaged_config = NODE_GRAPHS.packaged_config


@pytest.mark.parametrize("method", list(METHODS))
def test_packaged_defaults_build(method):
    for dataset in ("cora", "citeseer", "pubmed"):
        build_config(METHODS[method].config_class, *_sections(_packaged_config(method), dataset))


def test_gcond_cora_defaults_are_the_published_settings():
    config = build_config(METHODS["gcond"].config_class, *_sections(_packaged_config("gcond"), "cora"))
    assert (config.epochs, config.outer_steps, config.inner_steps) == (600, 20, 15)
    assert (config.lr_feat, config.lr_adj, config.inner_lr) == (1e-4, 1e-4, 0.01)
    assert (config.structure_epochs, config.feature_epochs, config.distance) == (10, 40, "ours")
    assert (config.matching_model, config.hops, config.pge_hidden, config.pge_layers) == ("sgc", 2, 128, 3)
    pubmed = build_config(METHODS["gcond"].config_class, *_sections(_packaged_config("gcond"), "pubmed"))
    assert pubmed.inner_steps == 10
