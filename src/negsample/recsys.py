"""Recommendation from implicit feedback with popularity-aware negatives.

Model: user vectors p_u, item vectors q_i and item biases b_i; score x_ui = p_u . q_i + b_i.
Objective per observed (u, i) with k negatives j ~ popularity(j)^alpha, the user's known
positives excluded (redrawn up to 10 times, then skipped and counted):
- ``loss="sgns"``: ln s(x_ui) + sum_j ln s(-x_uj)
- ``loss="bpr"``:  sum_j ln s(x_ui - x_uj)
plus L2 regularisation ``reg`` on the rows touched; SGD with linear learning-rate decay, Python
threads running a nogil numba kernel on disjoint slices of the shuffled interactions (Hogwild).
``shared=True`` draws one pool of k negatives per block of 64 interactions.

Evaluation (``leave_last_out`` + ``evaluate``): each user's latest interaction (by timestamp;
file order breaks ties; a seeded random one when there are no timestamps) is held out; users
with a single interaction keep it in training and are not evaluated. Recall@K and NDCG@K rank
all items except the user's training items; catalogue coverage is the share of items that
appear in some top-K list. ``fairness`` reports, per popularity decile, the share of negative
draws and of the negatives' gradient norm |dL/dq_j| = |g| |p_u|.
"""
from __future__ import annotations

import csv
import io
import json
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from numba import njit

from .io import atomic_write
from ._common import (NegsampleError, Progress, as_rng, check_finite_float,
                      check_positive_int)
from .distributions import AliasTable, unigram
from .kernels.csr import csr_contains as _known

__all__ = ["Interactions", "load_interactions", "leave_last_out", "ImplicitModel", "evaluate",
           "most_popular_scores", "fairness_by_decile", "train_two_tower"]


# --------------------------------------------------------------------------- data

@dataclass
class Interactions:
    """users, items: (n,) int64 ids in 0..n_users-1 / 0..n_items-1; weights (n,) float32;
    timestamps (n,) float64 or None; user_ids / item_ids: original ids, index = internal id."""

    users: np.ndarray
    items: np.ndarray
    weights: np.ndarray
    timestamps: np.ndarray | None
    user_ids: list
    item_ids: list
    duplicates_merged: int = 0

    @property
    def n_users(self):
        return len(self.user_ids)

    @property
    def n_items(self):
        return len(self.item_ids)

    def __len__(self):
        return int(self.users.size)

    def csr(self):
        m = sp.csr_matrix((np.ones(len(self), np.float32), (self.users, self.items)),
                          shape=(self.n_users, self.n_items))
        m.sum_duplicates()
        m.sort_indices()
        return m


def _map_ids(values):
    uniq, inv = np.unique(np.asarray(values, dtype=object).astype(str), return_inverse=True)
    return list(uniq), inv.astype(np.int64)


def load_interactions(path, user_col=None, item_col=None, weight_col=None, time_col=None):
    """Read (user, item[, weight][, timestamp]) from TSV/CSV (header optional) or Parquet.

    Without a header the columns are user, item, weight, timestamp in that order. Duplicate
    (user, item) pairs are merged: weights summed, the latest timestamp kept, and counted.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise NegsampleError(f"interactions file not found: {path}")
    if path.endswith(".parquet"):
        try:
            import pandas as pd
            df = pd.read_parquet(path)
        except ImportError:
            raise NegsampleError("reading Parquet needs pandas and pyarrow") from None
        cols = [str(c) for c in df.columns]
        rows = None
    else:
        with open(path, encoding="utf-8", errors="replace") as fh:
            text = fh.read()
        lines = [ln for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
        if not lines:
            raise NegsampleError(f"{path}: no interactions")
        sep = "\t" if "\t" in lines[0] else ("," if "," in lines[0] else None)
        split = (lambda s: s.split(sep)) if sep else (lambda s: s.split())
        first = [c.strip() for c in split(lines[0])]
        has_header = not _looks_numeric_row(first) and any(c.lower() in ("user", "user_id", "userid", "item",
                                                                          "item_id", "itemid") for c in first)
        cols = first if has_header else ["user", "item", "weight", "timestamp"][:len(first)]
        rows = [split(ln) for ln in (lines[1:] if has_header else lines)]
        for i, r in enumerate(rows):
            if len(r) < 2 or len(r) != len(cols):
                raise NegsampleError(f"{path}: line {i + 1 + has_header} has {len(r)} fields, expected {len(cols)}")
        df = None

    def find(name, explicit, options):
        if explicit is not None:
            if explicit not in cols:
                raise NegsampleError(f"{path}: no column {explicit!r} (columns: {', '.join(cols)})")
            return cols.index(explicit)
        for o in options:
            for j, c in enumerate(cols):
                if c.lower() == o:
                    return j
        return None

    ui = find("user", user_col, ("user", "user_id", "userid", "u"))
    ii = find("item", item_col, ("item", "item_id", "itemid", "movie", "i"))
    if ui is None or ii is None:
        ui, ii = 0, 1
    wi = find("weight", weight_col, ("weight", "rating", "count", "w"))
    ti = find("timestamp", time_col, ("timestamp", "time", "ts", "t", "date"))
    if df is not None:
        data = [df.iloc[:, j].to_numpy() if j is not None else None for j in (ui, ii, wi, ti)]
    else:
        data = [[r[j].strip() for r in rows] if j is not None else None for j in (ui, ii, wi, ti)]
    if len(data[0]) == 0:
        raise NegsampleError(f"{path}: no interactions")
    user_ids, users = _map_ids(data[0])
    item_ids, items = _map_ids(data[1])
    try:
        weights = np.asarray(data[2], dtype=np.float32) if data[2] is not None else np.ones(users.size, np.float32)
        times = np.asarray(data[3], dtype=np.float64) if data[3] is not None else None
    except ValueError:
        raise NegsampleError(f"{path}: weight/timestamp columns must be numeric") from None
    # merge duplicates
    key = users * len(item_ids) + items
    order = np.argsort(key, kind="stable")
    uniq, start = np.unique(key[order], return_index=True)
    dups = users.size - uniq.size
    if dups:
        w = np.add.reduceat(weights[order], start)
        t = np.maximum.reduceat(times[order], start) if times is not None else None
        first = order[start]
        keep = np.argsort(first, kind="stable")  # keep file order of first occurrences
        users, items = users[first][keep], items[first][keep]
        weights = w[keep].astype(np.float32)
        times = t[keep] if t is not None else None
    return Interactions(users, items, weights, times, user_ids, item_ids, dups)


def _looks_numeric_row(cells):
    try:
        [float(c) for c in cells]
        return True
    except ValueError:
        return False


def leave_last_out(data: Interactions, seed=0):
    """(train mask, test index per user or -1). The latest interaction of each user with >= 2
    interactions is the test item (file order breaks timestamp ties; random without timestamps)."""
    n = len(data)
    order_key = data.timestamps if data.timestamps is not None else as_rng(seed).random(n)
    # sort by user, then time, then position
    order = np.lexsort((np.arange(n), order_key, data.users))
    u_sorted = data.users[order]
    last = np.r_[u_sorted[1:] != u_sorted[:-1], True]
    counts = np.bincount(data.users, minlength=data.n_users)
    test_idx = np.full(data.n_users, -1, np.int64)
    cand = order[last]
    eligible = counts[data.users[cand]] >= 2
    test_idx[data.users[cand[eligible]]] = cand[eligible]
    train = np.ones(n, bool)
    train[test_idx[test_idx >= 0]] = False
    return train, test_idx


# --------------------------------------------------------------------------- kernel

@njit(nogil=True, cache=True, inline="always")
def _draw_item(prob, alias, n_items, state):
    """One alias draw with the kernel's 64-bit LCG: returns (new state, item)."""
    state = state * np.uint64(6364136223846793005) + np.uint64(1442695040888963407)
    xr = (state >> np.uint64(11)) * (1.0 / 9007199254740992.0) * n_items
    col = min(int(xr), n_items - 1)
    if (xr - col) < prob[col]:
        return state, col
    return state, alias[col]


@njit(nogil=True, cache=True, fastmath=True)
def _train_kernel(P, Q, b, users, items, order, start, end, indptr, indices, prob, alias, negative, lr, reg,
                  seed, bpr, shared, neg_count, neg_grad, stats):
    """SGD over interactions order[start:end]. stats: [loss, terms, rejected, skipped]."""
    d = P.shape[1]
    n_items = Q.shape[0]
    rng_state = np.uint64(seed) * np.uint64(6364136223846793005) + np.uint64(1442695040888963407)
    gu = np.empty(d, np.float32)
    pool = np.empty(negative, np.int64)
    instrument = neg_count.shape[0] == n_items
    one = np.float32(1.0)
    for t in range(start, end):
        e = order[t]
        u = users[e]
        i = items[e]
        if shared and ((t - start) % 64 == 0):
            for m in range(negative):
                rng_state, pool[m] = _draw_item(prob, alias, n_items, rng_state)
        for x in range(d):
            gu[x] = 0.0
        # positive score
        xi = b[i]
        for x in range(d):
            xi += P[u, x] * Q[i, x]
        track = (t & 7) == 0  # loss estimate on every 8th interaction
        if not bpr:
            sg = one / (one + np.exp(-xi))
            g = (one - sg) * lr
            if track:
                stats[0] -= np.log(max(sg, 1e-12))
                stats[1] += 1
            for x in range(d):
                gu[x] += g * Q[i, x]
                Q[i, x] = (one - lr * reg) * Q[i, x] + g * P[u, x]
            b[i] += g
        for m in range(negative):
            if shared:
                c = pool[m]
            else:
                rng_state, c = _draw_item(prob, alias, n_items, rng_state)
            tries = 0
            while (c == i or _known(indptr, indices, u, c)) and tries < 10:
                stats[2] += 1  # a known positive (false negative): redraw from the noise
                tries += 1
                rng_state, c = _draw_item(prob, alias, n_items, rng_state)
            if c == i or _known(indptr, indices, u, c):
                stats[3] += 1
                continue
            j = c
            xj = b[j]
            for x in range(d):
                xj += P[u, x] * Q[j, x]
            if bpr:
                z = xi - xj
                sz = one / (one + np.exp(-z))
                g = (one - sz) * lr
                if track:
                    stats[0] -= np.log(max(sz, 1e-12))
                    stats[1] += 1
                # d/dp_u = g (q_i - q_j); d/dq_i = g p_u; d/dq_j = -g p_u (separate loops vectorise)
                decay = one - lr * reg
                for x in range(d):
                    gu[x] += g * (Q[i, x] - Q[j, x])
                for x in range(d):
                    Q[j, x] = decay * Q[j, x] - g * P[u, x]
                for x in range(d):
                    Q[i, x] = decay * Q[i, x] + g * P[u, x]
                b[j] -= g
                b[i] += g
                if instrument:
                    pn = 0.0
                    for x in range(d):
                        pn += P[u, x] * P[u, x]
                    gnorm = g / lr * np.sqrt(pn)
            else:
                sj = one / (one + np.exp(-xj))
                g = -sj * lr
                if track:
                    stats[0] -= np.log(max(1.0 - sj, 1e-12))
                    stats[1] += 1
                decay = one - lr * reg
                for x in range(d):
                    gu[x] += g * Q[j, x]
                for x in range(d):
                    Q[j, x] = decay * Q[j, x] + g * P[u, x]
                b[j] += g
                if instrument:
                    pn = 0.0
                    for x in range(d):
                        pn += P[u, x] * P[u, x]
                    gnorm = -g / lr * np.sqrt(pn)
            if instrument:
                neg_count[j] += 1.0
                neg_grad[j] += gnorm
        for x in range(d):
            P[u, x] = (one - lr * reg) * P[u, x] + gu[x]


# --------------------------------------------------------------------------- model

class ImplicitModel:
    """Embeddings for implicit feedback trained with popularity^alpha negatives (see module doc).

    >>> model = ImplicitModel(dim=64, negative=5, ns_exponent=0.75, epochs=20).fit(train_interactions)
    >>> model.recommend(user_index, k=10)
    """

    def __init__(self, dim=64, negative=5, ns_exponent=0.75, epochs=20, lr=0.05, min_lr=None, reg=0.01,
                 loss="bpr", shared=False, threads=2, seed=1, init_std=0.1):
        self.dim = check_positive_int("dim", dim)
        self.negative = check_positive_int("negative", negative)
        self.ns_exponent = check_finite_float("ns_exponent", ns_exponent, minimum=0.0)
        self.epochs = check_positive_int("epochs", epochs)
        self.lr = check_finite_float("lr", lr, minimum=0.0, strict_min=True)
        self.min_lr = self.lr * 0.01 if min_lr is None else check_finite_float("min_lr", min_lr, minimum=0.0)
        self.reg = check_finite_float("reg", reg, minimum=0.0)
        if loss not in ("sgns", "bpr"):
            raise NegsampleError(f"loss must be 'sgns' or 'bpr', got {loss!r}")
        self.loss = loss
        self.shared = bool(shared)
        self.threads = check_positive_int("threads", threads)
        self.seed = check_positive_int("seed", seed, minimum=0)
        self.init_std = float(init_std)
        self.user_factors = self.item_factors = self.item_bias = None
        self.user_ids = self.item_ids = None
        self.neg_count = self.neg_grad = None
        self.stats = {}

    def fit(self, data: Interactions, train_mask=None, progress=False, instrument=False):
        if len(data) == 0:
            raise NegsampleError("no interactions to train on")
        mask = np.ones(len(data), bool) if train_mask is None else np.asarray(train_mask, bool)
        users, items = data.users[mask], data.items[mask]
        U, I = data.n_users, data.n_items
        known = sp.csr_matrix((np.ones(users.size, np.float32), (users, items)), shape=(U, I))
        known.sum_duplicates()
        known.sort_indices()
        pop = np.bincount(items, minlength=I).astype(np.float64)
        table = AliasTable(unigram(pop, self.ns_exponent), name="item popularity")
        rng = as_rng(self.seed)
        P = (rng.standard_normal((U, self.dim)) * self.init_std).astype(np.float32)
        Q = (rng.standard_normal((I, self.dim)) * self.init_std).astype(np.float32)
        b = np.zeros(I, np.float32)
        neg_count = np.zeros(I if instrument else 0)
        neg_grad = np.zeros(I if instrument else 0)
        indptr, indices = known.indptr.astype(np.int64), known.indices.astype(np.int64)
        n = users.size
        threads = 1 if instrument else self.threads
        bounds = np.linspace(0, n, threads + 1).astype(np.int64)
        bar = Progress(self.epochs, unit="epochs", desc="recsys", enabled=progress)
        t0 = time.perf_counter()
        losses = []
        rejected = skipped = 0
        for epoch in range(self.epochs):
            lr = self.lr - (self.lr - self.min_lr) * epoch / max(1, self.epochs - 1)
            order = rng.permutation(n)
            st = [np.zeros(4) for _ in range(threads)]

            def run(t):
                _train_kernel(P, Q, b, users, items, order, bounds[t], bounds[t + 1], indptr, indices,
                              table.prob, table.alias, self.negative, np.float32(lr), np.float32(self.reg),
                              self.seed * 7919 + epoch * 31 + t, self.loss == "bpr", self.shared,
                              neg_count, neg_grad, st[t])

            if threads == 1:
                run(0)
            else:
                with ThreadPoolExecutor(threads) as pool:
                    list(pool.map(run, range(threads)))
            tot = np.sum(st, axis=0)
            losses.append(tot[0] / max(tot[1], 1))
            rejected += int(tot[2])
            skipped += int(tot[3])
            bar.update(epoch + 1, loss=losses[-1], lr=lr)
        bar.close()
        self.user_factors, self.item_factors, self.item_bias = P, Q, b
        self.user_ids, self.item_ids = list(data.user_ids), list(data.item_ids)
        self.item_popularity = pop
        if instrument:
            self.neg_count, self.neg_grad = neg_count, neg_grad
        self.stats = {"train_seconds": time.perf_counter() - t0, "epoch_losses": losses,
                      "rejected_negatives": rejected, "skipped_negatives": skipped, "interactions": int(n)}
        return self

    def scores(self, user_index):
        return self.user_factors[user_index] @ self.item_factors.T + self.item_bias

    def user_index(self, user):
        try:
            return self.user_ids.index(str(user))
        except ValueError:
            raise NegsampleError(f"unknown user {user!r}: not in the training interactions") from None

    def recommend(self, user, k=10, exclude=None):
        """Top-k item ids (original ids) and scores for a user (original id), excluding ``exclude``
        (internal item indices, e.g. the user's training items)."""
        u = self.user_index(user)
        s = self.scores(u).astype(np.float64)
        if exclude is not None:
            s[np.asarray(list(exclude), dtype=np.int64)] = -np.inf
        top = np.argsort(-s, kind="stable")[:k]
        return [(self.item_ids[i], float(s[i])) for i in top if np.isfinite(s[i])]

    def save(self, path):
        with atomic_write(path, "wb") as fh:
            np.savez(fh, user_factors=self.user_factors, item_factors=self.item_factors, item_bias=self.item_bias,
                     user_ids=np.array(self.user_ids, dtype=object), item_ids=np.array(self.item_ids, dtype=object),
                     meta=np.array(json.dumps({"dim": self.dim, "loss": self.loss, "ns_exponent": self.ns_exponent,
                                               "negative": self.negative, "epochs": self.epochs})))

    @classmethod
    def load(cls, path):
        if not os.path.exists(path):
            raise NegsampleError(f"model file not found: {path}")
        try:
            with np.load(path, allow_pickle=True) as z:
                meta = json.loads(str(z["meta"]))
                m = cls(dim=meta["dim"], loss=meta["loss"], ns_exponent=meta["ns_exponent"],
                        negative=meta["negative"], epochs=meta["epochs"])
                m.user_factors, m.item_factors, m.item_bias = z["user_factors"], z["item_factors"], z["item_bias"]
                m.user_ids, m.item_ids = [str(x) for x in z["user_ids"]], [str(x) for x in z["item_ids"]]
        except (KeyError, ValueError, OSError) as exc:
            raise NegsampleError(f"{path} is not a negsample recsys model: {exc}") from None
        return m


# --------------------------------------------------------------------------- evaluation

def evaluate(score_fn, train_csr, test_users, test_items, k=10, batch=512):
    """Recall@k (= hit rate with one held-out item), NDCG@k and catalogue coverage.

    score_fn(user_indices) -> (B, n_items) scores; the user's training items are excluded.
    """
    k = check_positive_int("k", k)
    test_users = np.asarray(test_users)
    hits = np.zeros(test_users.size)
    ndcg = np.zeros(test_users.size)
    shown = np.zeros(train_csr.shape[1], bool)
    for s in range(0, test_users.size, batch):
        us = test_users[s:s + batch]
        sc = np.array(score_fn(us), dtype=np.float64, copy=True)
        sub = train_csr[us]
        rows = np.repeat(np.arange(len(us)), np.diff(sub.indptr))
        sc[rows, sub.indices] = -np.inf
        top = np.argpartition(-sc, k - 1, axis=1)[:, :k]
        top = np.take_along_axis(top, np.argsort(-np.take_along_axis(sc, top, 1), axis=1, kind="stable"), 1)
        shown[top.ravel()] = True
        target = test_items[s:s + batch][:, None]
        match = top == target
        hit = match.any(1)
        rank = np.argmax(match, 1)
        hits[s:s + batch] = hit
        ndcg[s:s + batch] = np.where(hit, 1.0 / np.log2(rank + 2.0), 0.0)
    return {"recall@k": float(hits.mean()), "ndcg@k": float(ndcg.mean()), "k": k,
            "coverage": float(shown.mean()), "users": int(test_users.size)}


def most_popular_scores(train_csr):
    pop = np.asarray(train_csr.sum(0)).ravel()
    return lambda us: np.broadcast_to(pop, (len(us), pop.size))


def fairness_by_decile(popularity, neg_count, neg_grad, n_deciles=10):
    """Per popularity decile (items sorted by training popularity, equal item counts, decile 10 =
    most popular): share of negative draws and share of the negatives' gradient norm."""
    order = np.argsort(popularity, kind="stable")
    groups = np.array_split(order, n_deciles)
    cnt = np.array([neg_count[g].sum() for g in groups])
    grd = np.array([neg_grad[g].sum() for g in groups])
    inter = np.array([popularity[g].sum() for g in groups])
    return {"negative_share": (cnt / max(cnt.sum(), 1e-12)).tolist(),
            "gradient_share": (grd / max(grd.sum(), 1e-12)).tolist(),
            "interaction_share": (inter / max(inter.sum(), 1e-12)).tolist(),
            "coverage": [float((neg_count[g] > 0).mean()) for g in groups]}


# --------------------------------------------------------------------------- two-tower (torch)

def train_two_tower(data: Interactions, train_mask=None, dim=64, epochs=10, batch_size=1024, temperature=0.1,
                    logq=True, lr=0.01, seed=0):
    """User and item embedding towers trained with in-batch negatives (InfoNCE over the batch's
    items) and, with ``logq``, the logQ correction ln q(item) (q = item frequency in training).
    Returns (user_factors, item_factors) as numpy arrays. Needs torch."""
    try:
        import torch
    except ImportError:
        raise NegsampleError("the two-tower path needs torch: pip install negsample[torch]") from None
    from .losses import info_nce

    torch.manual_seed(seed)
    mask = np.ones(len(data), bool) if train_mask is None else np.asarray(train_mask, bool)
    users = torch.as_tensor(data.users[mask])
    items = torch.as_tensor(data.items[mask])
    freq = np.bincount(data.items[mask], minlength=data.n_items).astype(np.float64)
    logq_all = torch.as_tensor(np.log(np.maximum(freq, 1) / freq.sum()), dtype=torch.float32)
    U = torch.nn.Embedding(data.n_users, dim)
    V = torch.nn.Embedding(data.n_items, dim)
    torch.nn.init.normal_(U.weight, std=0.1)
    torch.nn.init.normal_(V.weight, std=0.1)
    opt = torch.optim.Adam(list(U.parameters()) + list(V.parameters()), lr=lr)
    g = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        perm = torch.randperm(users.numel(), generator=g)
        for s in range(0, perm.numel(), batch_size):
            idx = perm[s:s + batch_size]
            u, it = users[idx], items[idx]
            same = it.unsqueeze(0) == it.unsqueeze(1)  # accidental hits: the same item twice
            mask_fn = same & ~torch.eye(len(idx), dtype=torch.bool)
            loss = info_nce(U(u), V(it), None, temperature=temperature,
                            logq=logq_all[it] if logq else None, mask=mask_fn)
            opt.zero_grad()
            loss.backward()
            opt.step()
    return U.weight.detach().numpy().copy(), V.weight.detach().numpy().copy()
