"""Train RecBole 1.2.1 models on a distilled log and score the real users on the original split.

Every RecBole compatibility workaround lives here:

- numpy 2 removed ``np.float_``, ``np.complex_`` and ``np.unicode_``, which RecBole still uses: aliased
  before its ``Config`` is built;
- ``recbole.quick_start`` is never imported (it pulls in ray, which needs ``pkg_resources``);
- torch >= 2.6 loads checkpoints with ``weights_only=True``, which RecBole's pickled checkpoints fail:
  models are trained with ``saved=False`` and evaluated with ``load_best_model=False`` so nothing is loaded;
- scipy removed ``dok_matrix._update`` (used by LightGCN's adjacency build): restored;
- RecBole maps the dataset name ``ml-100k`` to its bundled copy whatever ``data_path`` says: the files
  are written under a private name;
- RecBole's ``Config`` reads ``--key=value`` pairs from ``sys.argv`` and lets them override everything,
  so graphdistill's own arguments (``--dataset=...``) would leak into it: ``sys.argv`` is hidden while it
  is built;
- pandas >= 3 and torch warn about RecBole's deprecated calls (inplace ``fillna`` on our complete files,
  ``torch.cuda.amp``): silenced around RecBole calls;
- RecBole's trainers write TensorBoard logs into ``./log_tensorboard`` of whatever directory the user is in:
  sent to the run's temporary directory instead.

The distilled users, the original train / valid / test rows are four benchmark files of one dataset, so
all share RecBole's id map. The model is built and trained on the distilled rows (soft values enter
through the ``rating`` field); real users are then scored from their real history (EASE / ItemKNN: the
interaction matrix is swapped; auto-encoders: the history rows are swapped) and ranked with the same
protocol as ∞-AE (:mod:`recsys.metrics`). Auto-encoders see each user once per epoch (RecBole's loader would
repeat a user once per interaction). Models with one embedding per user (BPR, LightGCN, ...) have no
embedding for a real user when trained on synthetic ones and are refused.
"""
from __future__ import annotations

import contextlib
import functools
import logging
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch

from graphdistill.core.errors import InputError
from recsys.infae import KS, EvaluationSetup
from recsys.io import inter_text
from recsys.metrics import RankingAccumulator

#: Models that score a user from the user's interaction row, so they can be trained on synthetic users.
SUPPORTED = {"EASE": "matrix", "ItemKNN": "matrix", "MultiVAE": "history", "MultiDAE": "history",
             "RecVAE": "history"}
PER_USER_EMBEDDING = ("BPR", "LightGCN", "NGCF", "DMF", "NeuMF", "SpectralCF", "ENMF", "NNCF", "SGL", "SimpleX",
                      "NCL", "DGCF", "LINE", "ConvNCF", "GCMC", "CDAE", "MacridVAE", "RaCT", "NCEPLRec", "Pop")
_DATASET = "gd_distilled"


def _patch_environment() -> None:
    for alias, target in (("float_", np.float64), ("complex_", np.complex128), ("unicode_", np.str_)):
        if not hasattr(np, alias):
            setattr(np, alias, target)
    if not hasattr(sp.dok_matrix, "_update"):
        def _update(self, data):
            for key, value in dict(data).items():
                self[key] = value
        sp.dok_matrix._update = _update


@contextlib.contextmanager
def _recbole_sandbox(scratch: Path):
    import recbole.trainer.trainer as trainers
    from torch.utils.tensorboard import SummaryWriter

    argv, tensorboard = sys.argv, trainers.get_tensorboard
    sys.argv = argv[:1]
    trainers.get_tensorboard = lambda logger: SummaryWriter(str(scratch / "tensorboard"))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        sys.argv, trainers.get_tensorboard = argv, tensorboard


def check_model(name: str) -> str:
    """The RecBole model kind for ``name``; :class:`InputError` for per-user-embedding and unknown models."""
    if name in SUPPORTED:
        return SUPPORTED[name]
    if name in PER_USER_EMBEDDING:
        raise InputError(f"recbole:{name} learns one embedding per user, so a model trained on synthetic users "
                         f"cannot score real users; use one of {', '.join(sorted(SUPPORTED))}")
    raise InputError(f"unknown RecBole model {name!r}; supported: {', '.join(sorted(SUPPORTED))}")


def _write_files(folder: Path, setup: EvaluationSetup, distilled: sp.csr_matrix) -> None:
    data = setup.data
    folder.mkdir(parents=True)
    (folder / f"{_DATASET}.distilled.inter").write_text(inter_text(distilled, data.item_tokens))
    for split in ("train", "valid", "test"):
        matrix = getattr(data, split)
        coo = matrix.tocoo()
        lines = ["user_id:token\titem_id:token\trating:float"]
        lines += [f"u_{data.user_tokens[r]}\t{data.item_tokens[c]}\t{v:g}" for r, c, v in zip(coo.row, coo.col, coo.data)]
        (folder / f"{_DATASET}.{split}.inter").write_text("\n".join(lines) + "\n")


def _rows_by_recbole_id(dataset, field: str, tokens: list[str], matrix: sp.csr_matrix, size: int) -> sp.csr_matrix:
    """Re-index the rows of ``matrix`` (one per token) to RecBole ids in a ``(size, items)`` matrix."""
    ids = dataset.token2id(field, tokens)
    coo = matrix.tocoo()
    return sp.csr_matrix((coo.data, (np.asarray(ids)[coo.row], coo.col)), shape=(size, matrix.shape[1]))


def train_and_evaluate(model_name: str, setup: EvaluationSetup, distilled: sp.csr_matrix, *, seed: int = 0,
                       device: torch.device = torch.device("cpu"), epochs: int = 100,
                       settings: dict[str, Any] | None = None, progress: bool = False) -> dict[str, Any]:
    """Train RecBole's ``model_name`` on ``distilled`` (``(synthetic users, items)`` aligned to the
    dataset's items) and return test metrics of the real users (context train + valid, as for ∞-AE).

    Args:
        epochs: training epochs for models that train (MultiVAE, ...); EASE / ItemKNN are closed form.
        settings: extra RecBole config entries (e.g. ``{"reg_weight": 250.0}`` for EASE).
    """
    kind = check_model(model_name)
    _patch_environment()
    from recbole.config import Config
    from recbole.data import create_dataset
    from recbole.data.dataloader import TrainDataLoader
    from recbole.data.interaction import Interaction
    from recbole.utils import get_model, get_trainer, init_seed

    data = setup.data
    with tempfile.TemporaryDirectory(prefix="graphdistill-recbole-") as tmp, _recbole_sandbox(Path(tmp)):
        folder = Path(tmp) / _DATASET
        _write_files(folder, setup, distilled)
        config = Config(model=model_name, dataset=_DATASET, config_dict={
            "data_path": tmp, "benchmark_filename": ["distilled", "train", "valid", "test"],
            "load_col": {"inter": ["user_id", "item_id", "rating"]}, "train_neg_sample_args": None,
            "epochs": epochs, "seed": seed, "reproducibility": True, "show_progress": progress,
            "checkpoint_dir": str(Path(tmp) / "saved"), "device": str(device), "use_gpu": device.type == "cuda",
            "state": "WARNING", "log_wandb": False, "train_batch_size": 2048, **(settings or {})})
        logging.getLogger().setLevel(logging.WARNING)
        init_seed(seed, True)
        dataset = create_dataset(config)
        distilled_set = dataset.build()[0]
        # Soft values reach the models through the rating field.
        distilled_set.inter_matrix = functools.partial(distilled_set.inter_matrix, value_field="rating")
        distilled_set.history_item_matrix = functools.partial(distilled_set.history_item_matrix, value_field="rating")
        model = get_model(model_name)(config, distilled_set).to(config["device"])
        trainer = get_trainer(config["MODEL_TYPE"], model_name)(config, model)
        trainer.fit(TrainDataLoader(config, _one_row_per_user(distilled_set) if kind == "history" else distilled_set,
                                    None, shuffle=True), None, saved=False, show_progress=progress)

        user_tokens = [f"u_{t}" for t in data.user_tokens[setup.users]]
        context, heldout = setup.split("test")
        item_ids = np.asarray(dataset.token2id("item_id", list(data.item_tokens)))
        history = _rows_by_recbole_id(dataset, "user_id", user_tokens, context, dataset.user_num)
        history = sp.csr_matrix((history.data, item_ids[history.indices], history.indptr),
                                shape=(dataset.user_num, dataset.item_num)).astype(np.float32)
        _swap_history(model, kind, history)
        model.eval()
        accumulator = RankingAccumulator(KS, setup.propensity)
        recbole_users = np.asarray(dataset.token2id("user_id", user_tokens))
        with torch.no_grad():
            for start in range(0, len(user_tokens), 1024):
                rows = slice(start, min(start + 1024, len(user_tokens)))
                batch = Interaction({"user_id": torch.as_tensor(recbole_users[rows], device=config["device"])})
                scores = model.full_sort_predict(batch).view(len(recbole_users[rows]), -1)[:, item_ids]
                accumulator.add(scores.float(), context[rows], heldout[rows], setup.negatives[rows])
    return accumulator.result()


def _one_row_per_user(dataset):
    """``dataset`` with one interaction per user. The auto-encoders read a user's whole history row for each
    training example, so RecBole's loader (one example per interaction) would feed every user as many times as
    it has items: on a soft distilled log, where every item of every synthetic user is stored, thousands of
    batches per epoch. One example per user per epoch is how Liang et al. train Mult-VAE."""
    users = dataset.inter_feat[dataset.uid_field].numpy()
    first = np.sort(np.unique(users, return_index=True)[1])
    return dataset.copy(dataset.inter_feat[torch.as_tensor(first)])


def _swap_history(model, kind: str, history: sp.csr_matrix) -> None:
    """Make ``model`` score users from ``history`` (RecBole ids x RecBole item ids) instead of the training rows."""
    if kind == "matrix":
        model.interaction_matrix = history
        if hasattr(model, "pred_mat"):  # ItemKNN precomputes its predictions
            model.pred_mat = (history.dot(model.w) if model.method != "user" else model.w.dot(history)).tolil()
        return
    lengths = np.diff(history.indptr)
    width = max(int(lengths.max()), 1)
    ids = torch.zeros(history.shape[0], width, dtype=torch.long)
    values = torch.zeros(history.shape[0], width)
    for user in np.flatnonzero(lengths):
        segment = slice(history.indptr[user], history.indptr[user + 1])
        ids[user, :lengths[user]] = torch.as_tensor(history.indices[segment])
        values[user, :lengths[user]] = torch.as_tensor(history.data[segment])
    model.history_item_id, model.history_item_value = ids.to(model.device), values.to(model.device)
