"""torch.distributed helpers for the contrastive losses (gather candidates across workers).

With ``gather_across_workers=True`` each worker keeps its own B_r anchors and sees the candidates
of all W workers (sum_r B_r columns). ``all_gather_with_grad`` concatenates a (B_r, ...) tensor
from every worker in rank order; its backward all-reduces (sums) the gradient of the gathered
tensor over workers and hands each worker the rows it owns, so a worker's embeddings receive the
gradient of every worker's loss through them (as SimCLR's / sentence-transformers' gathers do).
Per-worker batch sizes may differ (tensors are padded to the largest for the collective).

Without an initialised process group every helper is the identity (world size 1), so code written
for several workers runs unchanged in one process.
"""
from __future__ import annotations

import torch
import torch.distributed as dist

from ._common import NegsampleError

__all__ = ["is_distributed", "world_size", "rank", "all_gather_with_grad", "all_gather_no_grad",
           "all_reduce_sum", "gather_sizes"]


def is_distributed() -> bool:
    """True when torch.distributed is available and a process group is initialised."""
    return dist.is_available() and dist.is_initialized()


def world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def gather_sizes(n: int, device=None) -> list[int]:
    """Every worker's n (e.g. its batch size), in rank order."""
    if not is_distributed():
        return [int(n)]
    t = torch.tensor([int(n)], dtype=torch.long, device=device)
    out = [torch.zeros_like(t) for _ in range(world_size())]
    dist.all_gather(out, t)
    return [int(x) for x in out]


def _gather_padded(x: torch.Tensor, sizes: list[int]) -> torch.Tensor:
    m = max(sizes)
    if x.shape[0] < m:
        pad = x.new_zeros((m - x.shape[0],) + tuple(x.shape[1:]))
        x = torch.cat([x, pad], dim=0)
    out = [torch.empty_like(x) for _ in sizes]
    dist.all_gather(out, x.contiguous())
    return torch.cat([o[:n] for o, n in zip(out, sizes)], dim=0)


class _AllGatherWithGrad(torch.autograd.Function):
    """forward: concatenation of every worker's rows; backward: sum of the gathered gradient over
    workers, sliced to this worker's rows."""

    @staticmethod
    def forward(ctx, x, sizes):
        ctx.sizes = sizes
        ctx.rank = rank()
        return _gather_padded(x, sizes)

    @staticmethod
    def backward(ctx, grad):
        grad = grad.contiguous().clone()
        dist.all_reduce(grad, op=dist.ReduceOp.SUM)
        start = sum(ctx.sizes[:ctx.rank])
        return grad[start:start + ctx.sizes[ctx.rank]], None


def all_gather_with_grad(x: torch.Tensor, sizes: list[int] | None = None) -> tuple[torch.Tensor, int, list[int]]:
    """(sum_r B_r, ...) concatenation of every worker's ``x`` (B_r, ...), differentiable; also returns
    this worker's row offset in it and the sizes. Identity in one process."""
    if not is_distributed():
        return x, 0, [x.shape[0]]
    if sizes is None:
        sizes = gather_sizes(x.shape[0], x.device)
    if x.dtype == torch.bool or not torch.is_floating_point(x):
        raise NegsampleError("all_gather_with_grad needs a floating-point tensor")
    out = _AllGatherWithGrad.apply(x, sizes)
    return out, sum(sizes[:rank()]), sizes


def all_gather_no_grad(x: torch.Tensor, sizes: list[int] | None = None) -> torch.Tensor:
    """Concatenation of every worker's ``x`` without gradient (labels, ids, logq, masks' keys)."""
    if not is_distributed():
        return x
    if sizes is None:
        sizes = gather_sizes(x.shape[0], x.device)
    dtype = x.dtype
    y = x.to(torch.uint8) if dtype == torch.bool else x
    out = _gather_padded(y.detach(), sizes)
    return out.to(dtype) if dtype == torch.bool else out


def all_reduce_sum(values: torch.Tensor) -> torch.Tensor:
    """Sum of a (small, no-grad) tensor over workers; identity in one process."""
    if not is_distributed():
        return values
    values = values.detach().clone()
    dist.all_reduce(values, op=dist.ReduceOp.SUM)
    return values
