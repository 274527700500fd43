import pytest
import scipy.sparse as sp
import torch

from graphdistill.core.errors import InputError
from graphdistill.core.kernels import relu_kernels
from recsys.learners import EASE, InfiniteAE, ItemKNN, dual_coefficients, ntk, parse_learners


def _log(users=12, items=30, seed=0):
    return (torch.rand(users, items, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) < 0.3).double()


def test_ntk_is_the_infinite_ae_kernel():
    x = (torch.rand(6, 40) < 0.3).float()
    assert torch.allclose(ntk(x), relu_kernels(x, weight_var=2.0, bias_var=0.01)[0])


def test_dual_coefficients_match_a_direct_solve_for_every_ridge():
    support = _log()
    kernel = ntk(support)
    for ridge, alpha in zip((1e-3, 1.0), dual_coefficients(support, (1e-3, 1.0))):
        regularised = kernel + ridge * torch.trace(kernel) / 12 * torch.eye(12, dtype=torch.float64)
        assert torch.allclose(alpha, torch.linalg.solve(regularised, support), atol=1e-8)


def _ease_by_definition(support, rows, reg):
    gram = support.t() @ support + reg * torch.eye(support.shape[1], dtype=support.dtype)
    inverse = torch.linalg.inv(gram)
    weights = -inverse / inverse.diagonal()
    weights.fill_diagonal_(0.0)
    return rows @ weights


@pytest.mark.parametrize("users", [12, 45])  # Woodbury (users < items) and the items x items solve
def test_ease_closed_form_both_solvers(users):
    support, rows = _log(users, 30), _log(7, 30, seed=1)
    for reg, scores in zip((0.5, 250.0), EASE().fit(support, (0.5, 250.0))(rows)):
        torch.testing.assert_close(scores, _ease_by_definition(support, rows, reg), atol=1e-9, rtol=1e-7)
    assert EASE().solver(users, 30).startswith("Woodbury" if users < 30 else "30 x 30")


def test_ease_matches_recbole_ease(tmp_path):
    pytest.importorskip("recbole")
    from recbole.model.general_recommender.ease import EASE as RecBoleEASE

    support = (torch.rand(20, 15, generator=torch.Generator().manual_seed(3)) < 0.35).float()
    support[0, :] = 1.0  # every item seen once at least

    class _Dataset:  # the two calls RecBole's EASE makes of its dataset
        def inter_matrix(self, form="csr"):
            return sp.csr_matrix(support.numpy())

        def num(self, field):
            return support.shape[0] if field == "user_id" else support.shape[1]

    class _Config(dict):  # RecBole reads its config both as a mapping and as attributes
        device = "cpu"

    config = _Config(reg_weight=250.0, device="cpu", USER_ID_FIELD="user_id", ITEM_ID_FIELD="item_id",
                     NEG_PREFIX="neg_", LABEL_FIELD="label", train_neg_sample_args=None)
    theirs = RecBoleEASE(config, _Dataset())
    theirs_scores = torch.as_tensor(support.numpy() @ theirs.item_similarity)
    ours = EASE().fit(support.double(), (250.0,))(support.double())[0]
    torch.testing.assert_close(ours.float(), theirs_scores.float(), atol=1e-4, rtol=1e-4)


def test_ease_and_itemknn_losses_have_finite_difference_gradients():
    support = (0.1 + 0.8 * torch.rand(5, 9, generator=torch.Generator().manual_seed(4), dtype=torch.float64))
    target = _log(6, 9, seed=5)

    def loss(learner, value):
        def of(s):
            return -(torch.log_softmax(learner.fit(s, (value,))(target, None)[0], -1) * target).sum()
        return of

    assert torch.autograd.gradcheck(loss(EASE(), 2.0), (support.requires_grad_(),))
    assert torch.autograd.gradcheck(loss(ItemKNN(), 0.0), (support,))


def test_itemknn_is_cosine_without_self_similarity():
    support, rows = _log(10, 8), _log(3, 8, seed=2)
    normalized = torch.nn.functional.normalize(support, dim=0)
    similarity = normalized.t() @ normalized
    similarity.fill_diagonal_(0.0)
    torch.testing.assert_close(ItemKNN().fit(support, (0.0,))(rows, None)[0], rows @ similarity)


def test_parse_learners_normalises_weights_and_refuses_bad_lists():
    assert parse_learners("infae, ease") == (("infae", "ease"), (0.5, 0.5))
    assert parse_learners("infae,ease", "1,3") == (("infae", "ease"), (0.25, 0.75))
    for learners, weights, match in (("infae,infae", "", "distinct"), ("knn", "", "unknown learner 'knn'"),
                                     ("infae,ease", "1", "2 non-negative"), ("infae", "x", "numbers"),
                                     ("infae,ease", "0,0", "not all zero")):
        with pytest.raises(InputError, match=match):
            parse_learners(learners, weights)


@pytest.mark.parametrize("learner", [InfiniteAE(), EASE(), ItemKNN()])
def test_a_shared_overlap_gives_the_same_scores(learner):
    support, rows = _log(10, 30), _log(4, 30, seed=6)
    scorer = learner.fit(support, (learner.grid[-1],))
    torch.testing.assert_close(scorer(rows, rows @ support.t())[0], scorer(rows, None)[0])



def test_a_large_support_is_solved_in_blocks_to_the_same_coefficients(monkeypatch):
    from recsys import learners

    torch.manual_seed(0)
    support = (torch.rand(300, 120) < 0.1).float()
    with torch.no_grad():
        direct = learners.dual_coefficients(support, (1e-3, 1.0))
        blocked = learners._blocked_dual_coefficients(support, (1e-3, 1.0), block=64)
        calls = []
        original = learners._blocked_dual_coefficients
        monkeypatch.setattr(learners, "BLOCKED_ABOVE", 100)
        monkeypatch.setattr(learners, "_blocked_dual_coefficients", lambda *args: calls.append(args) or original(*args))
        routed = learners.dual_coefficients(support, (1e-3, 1.0))
    assert len(calls) == 1
    for one, two, three in zip(direct, blocked, routed):
        torch.testing.assert_close(two, one, rtol=1e-6, atol=1e-6)
        assert torch.equal(three, two)
    # synthetic users that need gradients keep the differentiable path
    assert learners.dual_coefficients(support.requires_grad_(True), (1.0,))[0].requires_grad and len(calls) == 1
