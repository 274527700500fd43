"""Interaction-log compression as a :class:`~graphdistill.core.modality.Modality` (``graphdistill ... recsys``)."""
from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Any

import scipy.sparse as sp
import torch

from graphdistill.core.errors import InputError
from graphdistill.core.method import Condensed, Method, data_digest
from graphdistill.core.modality import Modality
from graphdistill.core.registry import Registry
from recsys.data import load_interactions
from recsys.infae import EvaluationSetup
from recsys.synthetic_log import load_synthetic_log, parse_synthetic
from recsys.io import MATRIX_FILE, align_items, binarize, compression, keep_largest, read_distilled, write_distilled

RECBOLE_PREFIX = "recbole:"


class InteractionLogs(Modality):
    """A user x item log compressed to a few synthetic users, scored with Distill-CF's protocol."""

    name = "recsys"
    help = "compress a user-item interaction log into synthetic users"
    config_package = "recsys"
    output_file = MATRIX_FILE
    budget_flag = "--users"
    primary_metric = "ndcg@10"
    datasets = ("folder name under <data root>/recsys (RecBole atomic files); ml-100k without such a folder is "
                "the copy shipped with RecBole, split by Distill-CF's rule; a generated log: netflix (480,189 users, "
                "17,770 items, 100M interactions) or synth:users=..,items=..,interactions=..[,topics=..,seed=..]")
    default_method = "distill-cf"

    @property
    def methods(self) -> Registry[Method]:
        from recsys.methods import METHODS

        return METHODS

    def add_data_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--min-rating", type=float, help="keep only interactions rated at least this")
        parser.add_argument("--eval-users", type=int, default=0, metavar="N",
                            help="score validation and test on N users drawn with seed 0 (recorded in meta.json), "
                                 "for logs too large to score whole (default: every user)")

    def add_condense_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--users", type=int, required=True, help="number of synthetic users (the budget)")
        parser.add_argument("--keep-fraction", type=float, default=None, metavar="F",
                            help="sparse output: store only the largest values, F x the training interactions")
        parser.add_argument("--binarize", choices=("top-k", "threshold"),
                            help="store a 0/1 log: each user's round(row sum) top items, or values >= --threshold")
        parser.add_argument("--threshold", type=float, default=0.5, help="cut-off of --binarize threshold")

    def add_evaluate_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--condensed", help="directory written by `condense recsys` (default: the full log)")
        parser.add_argument("--model", default="infae",
                            help="infae (∞-AE KRR) or recbole:<Model> (EASE, ItemKNN, MultiVAE, MultiDAE, RecVAE)")
        parser.add_argument("--epochs", type=int, default=100, help="training epochs of trained RecBole models")
        parser.add_argument("--ridges", help="infae: the relative ridges validation chooses from, comma-separated "
                                             "(default: 1e-5,1e-3,0.1,1,5,50; a smaller grid saves time on large supports)")

    def requirements(self, args: argparse.Namespace) -> list[tuple[str, str]]:
        return [("recbole", "recsys")] if str(getattr(args, "model", "")).startswith(RECBOLE_PREFIX) else []

    def shorthand_settings(self, args: argparse.Namespace) -> dict[str, Any]:
        if args.keep_fraction is not None and not 0 < args.keep_fraction <= 1:
            raise InputError(f"--keep-fraction must be in (0, 1], got {args.keep_fraction}")
        # Distill-CF optimises its sparse values itself; other methods are pruned afterwards (finish).
        fields = {f.name for f in dataclasses.fields(self.methods[args.method].config_class)}
        return {"keep_fraction": args.keep_fraction} if "keep_fraction" in fields else {}

    def load_data(self, args: argparse.Namespace, root: Path | None) -> EvaluationSetup:
        spec = parse_synthetic(args.dataset)
        if spec is not None and args.min_rating is not None:
            raise InputError("--min-rating does not apply to a generated log (every interaction is a positive)")
        log = load_synthetic_log(spec, args.dataset) if spec is not None else load_interactions(args.dataset, root,
                                                                                          args.min_rating)
        return EvaluationSetup.of(log, eval_users=args.eval_users)

    def digest(self, data: EvaluationSetup) -> str:
        parts = [data.data.item_tokens]
        for matrix in (data.data.train, data.data.valid, data.data.test):
            parts += [matrix.indptr, matrix.indices, matrix.data]
        return data_digest(*parts)

    def resolve_budget(self, data: EvaluationSetup, args: argparse.Namespace) -> int:
        available = int((data.data.train.getnnz(1) > 0).sum())
        if not 1 <= args.users <= available:
            raise InputError(f"--users {args.users} is impossible: choose between 1 and {available} "
                             f"(users with training interactions in {data.data.name})")
        return args.users

    def budget_text(self, budget: int) -> str:
        return f"{budget} users"

    def finish(self, condensed: Condensed, data: EvaluationSetup, args: argparse.Namespace) -> Condensed:
        matrix = condensed.data["interactions"]
        if args.keep_fraction is not None:
            matrix = keep_largest(matrix, max(1, int(args.keep_fraction * data.data.train_interactions)))
        if args.binarize:
            matrix = binarize(matrix, args.binarize, args.threshold)
        return dataclasses.replace(condensed, data={"interactions": matrix},
                                   aux={"item_tokens": data.data.item_tokens, "inter_name": data.data.name})

    def describe(self, condensed: Condensed, data: EvaluationSetup, args: argparse.Namespace) -> dict[str, Any]:
        log = data.data
        stored = sp.csr_matrix(condensed.data["interactions"].numpy())
        return {"dataset": log.name, "source": log.source, "users": args.users, "keep_fraction": args.keep_fraction,
                "binarize": args.binarize, "threshold": args.threshold if args.binarize == "threshold" else None,
                "min_rating": args.min_rating, "items": log.num_items, "real_users": log.num_users,
                "real_interactions": {split: int(m.nnz) for split, m in
                                      (("train", log.train), ("valid", log.valid), ("test", log.test))},
                "eval_users": _evaluated_users(data),
                "compression": compression(stored, log.item_tokens, log.train, log.train_interactions)}

    def save(self, out: Path, condensed: Condensed, overwrite: bool) -> None:
        write_distilled(out, condensed.aux["inter_name"], condensed.data["interactions"],
                        condensed.aux["item_tokens"], condensed.meta, overwrite=overwrite)

    def load(self, path: str | Path) -> tuple[sp.csr_matrix, Any]:
        """``(matrix (users, items) CSR, item tokens)``."""
        matrix, tokens, _ = read_distilled(path)
        return matrix, tokens

    def evaluate(self, args: argparse.Namespace, root: Path | None, device: torch.device) -> dict[str, Any]:
        from recsys.infae import evaluate_support

        model = args.model
        if model != "infae" and not model.startswith(RECBOLE_PREFIX):
            raise InputError(f"unknown model {model!r}; use infae or recbole:<Model> (e.g. recbole:EASE)")
        if model.startswith(RECBOLE_PREFIX):
            if args.ridges:
                raise InputError("--ridges is ∞-AE's grid; RecBole models use their own settings")
            from recsys.recbole_bridge import check_model

            check_model(model.removeprefix(RECBOLE_PREFIX))
        setup = self.load_data(args, root)
        data = setup.data
        if args.condensed:
            matrix, tokens, _ = read_distilled(args.condensed)
            support = align_items(matrix, tokens, data.item_tokens)
        else:
            support = data.train
        if model == "infae":
            outcome = evaluate_support(torch.as_tensor(support.toarray(), device=device), setup,
                                       grid=_ridges(args.ridges))
            result = {**outcome["test"], "ridge": outcome["ridge"]}
        else:
            from recsys.recbole_bridge import train_and_evaluate

            result = train_and_evaluate(model.removeprefix(RECBOLE_PREFIX), setup, support, seed=args.seed,
                                        device=device, epochs=args.epochs, progress=not args.quiet)
        return {**result, "model": model, "support_users": int(support.shape[0]), "stored_values": int(support.nnz),
                "eval_users": len(setup.users)}

    def summary(self, result: dict[str, Any]) -> str:
        return (f"{result['model']} on {result['dataset']}: nDCG@10 {result['ndcg@10']:.2f}, HR@10 "
                f"{result['hr@10']:.2f}, HR@100 {result['hr@100']:.2f}, AUC {result.get('auc', float('nan')):.2f} "
                f"({result['users']} users, {result['wall_s']:.1f} s)")


INTERACTION_LOGS = InteractionLogs()


def _ridges(text: str | None) -> tuple[float, ...] | None:
    if not text:
        return None
    try:
        ridges = tuple(float(part) for part in text.split(","))
    except ValueError:
        raise InputError(f"--ridges must be comma-separated numbers, got {text!r}") from None
    if any(not ridge > 0 for ridge in ridges):
        raise InputError(f"--ridges must be positive, got {text!r}")
    return ridges


def _evaluated_users(setup: EvaluationSetup) -> dict[str, Any] | None:
    """The sample of users validation and test score (``None`` when every user is scored)."""
    if not setup.sampled:
        return None
    return {"count": len(setup.users), "seed": 0, "user_tokens": setup.data.user_tokens[setup.users].tolist()}
