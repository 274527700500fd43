import pytest
import scipy.sparse as sp

from graphdistill.core.errors import InputError
from graphdistill.core.method import RunOptions
from recsys.methods import METHODS
from recsys.recbole_bridge import check_model, train_and_evaluate

pytest.importorskip("recbole")


@pytest.mark.parametrize("model", ["BPR", "LightGCN"])
def test_per_user_embedding_models_are_refused(model):
    with pytest.raises(InputError, match="one embedding per user"):
        check_model(model)


def test_unknown_model_is_refused():
    with pytest.raises(InputError, match="unknown RecBole model"):
        check_model("Nope")


@pytest.mark.slow
def test_ease_trained_on_a_distilled_log_scores_the_original_test_split(ml100k, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    head = METHODS["head"].condense(ml100k, 30, None, RunOptions()).data["interactions"]
    few = METHODS["random"].condense(ml100k, 3, None, RunOptions()).data["interactions"]

    result = train_and_evaluate("EASE", ml100k, sp.csr_matrix(head.numpy()))
    weak = train_and_evaluate("EASE", ml100k, sp.csr_matrix(few.numpy()))
    assert result["users"] == 943
    assert result["ndcg@10"] > 1.5 * weak["ndcg@10"]
    assert set(result) >= {"hr@10", "ndcg@10", "hr@100", "ndcg@100", "psp@10", "auc"}
    assert list(tmp_path.iterdir()) == []  # no RecBole logs or TensorBoard files left in the working directory


@pytest.mark.slow
def test_auto_encoders_see_each_user_once_per_epoch(ml100k, tmp_path, monkeypatch):
    import recbole.data.dataloader as loaders
    import torch

    monkeypatch.chdir(tmp_path)
    examples = []
    original = loaders.TrainDataLoader

    class Recording(original):
        def __init__(self, config, dataset, sampler, shuffle=False):
            examples.append(len(dataset.inter_feat))
            super().__init__(config, dataset, sampler, shuffle=shuffle)

    monkeypatch.setattr(loaders, "TrainDataLoader", Recording)
    soft = torch.rand(20, ml100k.data.num_items, generator=torch.Generator().manual_seed(0))  # every value stored
    result = train_and_evaluate("MultiVAE", ml100k, sp.csr_matrix(soft.numpy()), epochs=2)
    assert examples == [20]  # not 20 x 1,682 interactions
    assert result["users"] == 943 and 0 <= result["ndcg@10"] <= 100
