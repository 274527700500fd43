"""Property-based tests: arbitrary bytes or values either load correctly or raise InputError, never another
exception."""
import gzip
import math

import numpy as np
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graphdistill.core.config import build_config, parse_overrides
from graphdistill.core.errors import InputError
from graphdistill.graph.budget import resolve_budget
from graphdistill.graph.data import NodeGraph
from graphdistill.graph.methods import GradientMatchingConfig
from images.data import read_idx
from recsys.data import read_atomic

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@FAST
@given(st.binary(max_size=400))
def test_inter_reader_takes_any_bytes(tmp_path, raw):
    path = tmp_path / "x.inter"
    path.write_bytes(raw)
    try:
        rows = read_atomic(path)
    except InputError:
        return
    assert len(rows.users) == len(rows.items) == len(rows.ratings) > 0 and np.isfinite(rows.ratings).all()


@FAST
@given(st.lists(st.tuples(st.text(alphabet="abc\u00e9\t\r", min_size=0, max_size=4),
                          st.text(alphabet="xyz1 ", min_size=0, max_size=4),
                          st.one_of(st.floats(allow_nan=True), st.text(max_size=3))), max_size=8))
def test_inter_reader_takes_any_rows(tmp_path, rows):
    path = tmp_path / "x.inter"
    path.write_text("user_id:token\titem_id:token\trating:float\n" + "\n".join(f"{u}\t{i}\t{r}" for u, i, r in rows) + "\n",
                    encoding="utf-8")
    try:
        read = read_atomic(path, min_rating=2.0)
    except InputError:
        return
    assert (read.ratings >= 2.0).all()


@FAST
@given(st.binary(max_size=300), st.booleans())
def test_idx_reader_takes_any_bytes(tmp_path, raw, compressed):
    path = tmp_path / ("x.gz" if compressed else "x")
    path.write_bytes(gzip.compress(raw) if compressed and raw[:1] != b"\x1f" else raw)
    try:
        array = read_idx(path)
    except InputError:
        return
    assert array.ndim == raw[3] if not compressed else array.size >= 0


@FAST
@given(st.lists(st.text(max_size=20), max_size=5))
def test_set_parser_and_config_builder_take_any_text(pairs):
    try:
        config = build_config(GradientMatchingConfig, parse_overrides(pairs))
    except InputError:
        return
    for field in ("epochs", "lr_feat", "lr_adj", "inner_lr"):
        value = getattr(config, field)
        assert not isinstance(value, bool) and math.isfinite(value)


def _graph(train_counts: list[int]) -> NodeGraph:
    labels = torch.cat([torch.full((n,), c) for c, n in enumerate(train_counts)])
    n = len(labels)
    return NodeGraph("toy", torch.rand(n, 3), torch.zeros(2, 0, dtype=torch.long), labels, torch.arange(n),
                     torch.arange(0), torch.arange(0))


@FAST
@given(st.lists(st.integers(1, 30), min_size=1, max_size=6), st.one_of(st.none(), st.integers(-5, 200)),
       st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True)),
       st.sampled_from(["labelled", "train", "graph", "nodes", ""]))
def test_budget_parser_takes_any_values(counts, budget, ratio, basis):
    graph = _graph(counts)
    try:
        resolved = resolve_budget(graph, budget, ratio, basis)
    except InputError:
        return
    assert len(counts) <= resolved.nodes <= sum(counts)
