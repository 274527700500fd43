"""Index arithmetic shared by batched graph code: ranges gathered without a Python loop."""
from __future__ import annotations

import torch
from torch import Tensor


def concatenated_ranges(starts: Tensor, ends: Tensor) -> Tensor:
    """The concatenation of ``arange(starts[i], ends[i])`` over ``i`` (on the inputs' device)."""
    lengths = ends - starts
    offsets = torch.repeat_interleave(starts - torch.cat([lengths.new_zeros(1), lengths.cumsum(0)[:-1]]), lengths)
    return offsets + torch.arange(len(offsets), device=starts.device)
