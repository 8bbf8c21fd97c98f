"""gather_across_workers: W gloo processes (spawned on CPU) give the loss and gradients of one
process on the concatenated batch, with and without masks, labels (accidental hits), logQ, hard
negatives, unequal per-worker batch sizes, and for the metric-learning forms."""
import math
import os
import time

import pytest

torch = pytest.importorskip("torch")
import torch.distributed as dist  # noqa: E402

from negsample import distributed as nsd  # noqa: E402
from negsample.losses import hard_info_nce, info_nce, metric_loss  # noqa: E402
from negsample.temperature import EntropyController  # noqa: E402

D, K = 6, 2
# fork (Linux) reuses the imported torch: ~1 s per world instead of ~4 s of imports per process
# under spawn; torch's at-fork handler makes the children's intra-op pools safe.
START_METHOD = os.environ.get("NEGSAMPLE_TEST_START_METHOD", "fork" if hasattr(os, "fork") else "spawn")


def global_data(sizes, seed=0):
    """The concatenated batch of all workers (float64, fixed seed) and its per-worker slices."""
    g = torch.Generator().manual_seed(seed)
    B = sum(sizes)
    a = torch.randn(B, D, generator=g, dtype=torch.float64)
    data = {
        "a": a,
        "p": a + 0.8 * torch.randn(B, D, generator=g, dtype=torch.float64),
        "n": torch.randn(B, K, D, generator=g, dtype=torch.float64),
        "labels": torch.randint(0, max(2, B // 3), (B,), generator=g),       # repeats: accidental hits across workers
        "logq": -torch.rand(B, generator=g, dtype=torch.float64) * 3,
        "logq_hn": -torch.rand(B * (1 + K), generator=g, dtype=torch.float64) * 3,
        "mask": torch.rand(B, B, generator=g) < 0.25,                        # rows x global candidate columns
        "mask_metric": torch.rand(B, B, generator=g) < 0.15,
    }
    return data


CASES = ("plain", "mask_logq_labels", "symmetric_labels", "hard_negatives_logq", "debiased_mask", "hard",
         "ntxent", "supcon_mask", "auto")


def compute(case, x, sizes, rank, gather):
    """Loss of one case on the rows of x (the whole batch when gather=False, a worker's slice
    otherwise); a, p, n require grad. Returns (loss, [tensors whose grads to compare], extra)."""
    a, p, n = x["a"], x["p"], x["n"]
    common = {"chunk_size": 3, "gather_across_workers": gather}
    lo = sum(sizes[:rank]) if gather else 0
    rows = slice(lo, lo + a.shape[0])
    if case == "plain":
        return info_nce(a, p, None, 0.3, normalize=True, **common), (a, p), None
    if case == "mask_logq_labels":
        return info_nce(a, p, None, 0.3, logq=x["logq"], mask=x["mask_full"][rows], labels=x["labels"], **common), (a, p), None
    if case == "symmetric_labels":
        return info_nce(a, p, None, 0.2, normalize=True, symmetric=True, labels=x["labels"], **common), (a, p), None
    if case == "hard_negatives_logq":
        lq = torch.cat([x["logq_hn_pos"], x["logq_hn_neg"]])
        return info_nce(a, p, n, 0.5, logq=lq, in_batch=True, labels=x["labels"], **common), (a, p, n), None
    if case == "debiased_mask":
        return hard_info_nce(a, p, None, 0.3, beta=0.0, tau_plus=0.1, mask=x["mask_full"][rows], **common), (a, p), None
    if case == "hard":
        return hard_info_nce(a, p, None, 0.3, beta=1.0, tau_plus=0.1, labels=x["labels"], **common), (a, p), None
    if case == "ntxent":
        return metric_loss(a, x["labels"], loss="ntxent", temperature=0.1, **common), (a,), None
    if case == "supcon_mask":
        return metric_loss(a, x["labels"], loss="supcon", temperature=0.1, mask=x["mask_metric_full"][rows],
                           **common), (a,), None
    if case == "auto":
        ctrl = EntropyController(target_entropy=1.0, tau_init=0.3)
        loss = info_nce(a, p, None, "auto", controller=ctrl, normalize=True, **common)
        return loss, (a, p), ctrl.tau
    raise AssertionError(case)


def slice_inputs(data, sizes, rank):
    lo, hi = sum(sizes[:rank]), sum(sizes[:rank + 1])
    B = sum(sizes)
    x = {k: data[k][lo:hi].clone() for k in ("a", "p", "n", "labels", "logq")}
    x["mask_full"], x["mask_metric_full"] = data["mask"], data["mask_metric"]
    x["logq_hn_pos"] = data["logq_hn"][:B][lo:hi]
    x["logq_hn_neg"] = data["logq_hn"][B:].view(B, K)[lo:hi].reshape(-1)
    return x


def worker(rank, world, sizes, init_file, out_dir):
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        data = global_data(sizes)
        results = {}
        for case in CASES:
            x = slice_inputs(data, sizes, rank)
            for k in ("a", "p", "n"):
                x[k].requires_grad_(True)
            loss, leaves, extra = compute(case, x, sizes, rank, gather=True)
            loss.backward()
            results[case] = (float(loss.detach()), [t.grad.clone() for t in leaves], extra)
        torch.save(results, os.path.join(out_dir, f"rank{rank}.pt"))
    finally:
        dist.destroy_process_group()


def single_process(sizes):
    data = global_data(sizes)
    out = {}
    for case in CASES:
        x = slice_inputs(data, [sum(sizes)], 0)
        for k in ("a", "p", "n"):
            x[k].requires_grad_(True)
        loss, leaves, extra = compute(case, x, [sum(sizes)], 0, gather=False)
        loss.backward()
        out[case] = (float(loss.detach()), [t.grad.clone() for t in leaves], extra)
    return out


@pytest.mark.parametrize("sizes", [(5, 4), (3, 5, 4, 4)], ids=["2-workers", "4-workers-unequal"])
def test_gathered_losses_equal_one_process_on_the_concatenated_batch(sizes, tmp_path):
    import torch.multiprocessing as mp
    world = len(sizes)
    init_file = tmp_path / "init"
    ctx = mp.start_processes(worker, args=(world, list(sizes), str(init_file), str(tmp_path)), nprocs=world,
                             start_method=START_METHOD, join=False)
    deadline = time.monotonic() + 180
    while not ctx.join(timeout=1):
        if time.monotonic() > deadline:
            for proc in ctx.processes:
                proc.kill()
            pytest.fail("gloo workers did not finish within 180 s")
    ref = single_process(list(sizes))
    per_rank = [torch.load(tmp_path / f"rank{r}.pt") for r in range(world)]
    for case in CASES:
        ref_loss, ref_grads, ref_extra = ref[case]
        # the mean over workers of their returned losses is the single-process loss
        assert sum(res[case][0] for res in per_rank) / world == pytest.approx(ref_loss, abs=1e-9), case
        for r, res in enumerate(per_rank):
            lo, hi = sum(sizes[:r]), sum(sizes[:r + 1])
            for g_w, g_ref in zip(res[case][1], ref_grads):
                # gradients reach their owners summed over workers; DDP's averaging divides by W
                torch.testing.assert_close(g_w / world, g_ref[lo:hi], atol=1e-6, rtol=1e-6, msg=case)
            if case == "auto":  # every worker steps its controller on the global entropy
                assert res[case][2] == pytest.approx(ref_extra, rel=1e-9)
    # the masks and labels did something: the masked case differs from the plain one
    assert abs(ref["mask_logq_labels"][0] - ref["plain"][0]) > 1e-3


def test_helpers_are_identity_without_a_process_group():
    x = torch.randn(3, 2, requires_grad=True)
    y, off, sizes = nsd.all_gather_with_grad(x)
    assert y is x and off == 0 and sizes == [3]
    assert nsd.world_size() == 1 and nsd.rank() == 0 and not nsd.is_distributed()
    assert torch.equal(nsd.all_reduce_sum(torch.ones(2)), torch.ones(2))
    # gather_across_workers=True in one process is the ordinary loss
    a, p = torch.randn(6, 4), torch.randn(6, 4)
    assert float(info_nce(a, p, None, 0.2, gather_across_workers=True)) == pytest.approx(float(info_nce(a, p, None, 0.2)))
    assert math.isfinite(float(metric_loss(a, torch.tensor([0, 0, 1, 1, 2, 2]), gather_across_workers=True)))

