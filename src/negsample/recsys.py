"""Recommendation from implicit feedback with popularity-aware negatives.

Model: user vectors p_u, item vectors q_i and item biases b_i; score x_ui = p_u . q_i + b_i.
Negatives are drawn by a ``NegativeSampler`` through the noise core (default: q(j) ∝
popularity(j)^ns_exponent, the user's training items excluded as known positives, redrawn up to
``max_redraw`` times, then dropped and counted). Two families of training, by the sampler's mode:

- ``negatives="per-user"`` (the default): each user's interactions are cut into ``steps_per_user``
  groups per epoch; a group's positives share k filtered negatives and each positive i takes the
  sampled softmax  -ln e^{x_ui} / (e^{x_ui} + sum_j e^{x_uj - ln(k q_j)})  (``loss="softmax"``;
  ln(k q_j) is the logQ correction). With ``item_context`` the user vector is
  p_u = P_u + |C|^-context_exponent sum_{j in C} y_j over the user's other items C (the group's
  own items left out while training; all of them afterwards), so users with few interactions
  lean on their items' context vectors y_j (as in SVD++ / FISM). Row-wise Adagrad, Hogwild
  threads over users (``negsample.kernels.recsys.train_users``).
- ``negatives="per-example"`` / ``"shared"``: SGD over interactions with linear learning-rate
  decay, k negatives per interaction (per-example: fresh draws, and the adaptive negatives of the
  sampler; shared: one pool of k per block of 64 interactions), Hogwild threads over slices of
  the shuffled interactions (``negsample.kernels.recsys.train_epoch``), with
  ``loss="bpr"``: sum_j ln s(x_ui - x_uj)  or  ``loss="sgns"``: ln s(x_ui) + sum_j ln s(-x_uj).
Both add L2 regularisation ``reg`` on the rows they touch. Defaults depend on the mode
(``MODE_DEFAULTS``; chosen by the grid in benchmarks/bench_recsys.py).

Ids: the matrix API (``fit(user_items)``, ``recommend``, ``similar_items``) uses internal row /
column indices, like ``implicit``; ``user_index`` / ``item_index`` / ``item_labels`` map between
original ids (strings, from ``load_interactions``) and indices.

Evaluation (``leave_last_out`` + ``evaluate``): each user's latest interaction (by timestamp;
file order breaks ties; a seeded random one when there are no timestamps) is held out; users
with a single interaction keep it in training and are not evaluated. Recall@K and NDCG@K rank
all items except the user's training items; catalogue coverage is the share of items that
appear in some top-K list. ``fairness_by_decile`` reports, per popularity decile, the share of
negative draws and of the negatives' gradient norm |dL/dq_j| = |g| |p_u|.
"""
from __future__ import annotations

import hashlib
import lzma
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from . import io as nsio
from ._common import NegsampleError, Progress, as_rng, check_finite_float, check_positive_int
from .samplers import NegativeSampler, as_sampler

__all__ = ["Interactions", "load_interactions", "leave_last_out", "ImplicitModel", "evaluate",
           "most_popular_scores", "fairness_by_decile", "train_two_tower", "MODEL_KIND"]

MODEL_KIND = "recsys-model"
MODEL_VERSION = 1
LOSSES = ("softmax", "bpr", "sgns")
TRAIN_MODES = ("per-user", "per-example", "shared")
# per mode: what None means for negative / candidates / epochs / lr / reg / loss
MODE_DEFAULTS = {
    "per-user": {"negative": 50, "candidates": None, "epochs": 10, "lr": 0.1, "reg": 0.03, "loss": "softmax"},
    "per-example": {"negative": 2, "candidates": 10, "epochs": 40, "lr": 0.05, "reg": 0.03, "loss": "bpr"},
    "shared": {"negative": 5, "candidates": None, "epochs": 40, "lr": 0.05, "reg": 0.03, "loss": "bpr"},
}
MODE_LOSSES = {"per-user": ("softmax",), "per-example": ("bpr", "sgns"), "shared": ("bpr", "sgns")}
WEIGHTINGS = ("confidence", "sample", "none")


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

    def to_csr(self, mask=None, weights=True):
        """users x items CSR (float32) of the interactions selected by ``mask`` (bool (n,)), values
        = the weights (or 1 with ``weights=False``)."""
        sel = slice(None) if mask is None else np.asarray(mask, bool)
        u, i = self.users[sel], self.items[sel]
        v = self.weights[sel] if weights else np.ones(u.size, np.float32)
        m = sp.csr_matrix((v.astype(np.float32), (u, i)), shape=(self.n_users, self.n_items))
        m.sum_duplicates()
        m.sort_indices()
        return m

    csr = to_csr


USER_NAMES = ("user", "user_id", "userid", "customer_id", "customer", "u")
ITEM_NAMES = ("item", "item_id", "itemid", "article_id", "article", "movie", "movie_id", "product_id", "i")
WEIGHT_NAMES = ("weight", "rating", "count", "value", "confidence", "w")
TIME_NAMES = ("timestamp", "time", "ts", "t", "date", "t_dat", "datetime")


def load_interactions(path, user_col=None, item_col=None, weight_col=None, time_col=None, sep=None, header=None):
    """Read (user, item[, weight][, time]) interactions with pandas: CSV/TSV (any ``sep``; .gz etc.
    by extension) or Parquet (``.parquet``).

    Columns: ``user_col`` / ``item_col`` / ``weight_col`` / ``time_col`` are names (with a header)
    or 0-based positions; ``weight_col=False`` / ``time_col=False`` ignore a column. Defaults: the
    first column whose name is a usual one (user, user_id, customer_id, ...; item, item_id,
    article_id, movie, ...; weight, rating, count, value; timestamp, time, date, ...), else
    positions 0 and 1 for user and item, and 2 / 3 for weight / time when there is no header.
    ``header``: True, False or None (inferred: the first line is a header when it names a
    requested or usual column, or when one of its cells is text in a column whose following rows
    are all numbers). ``sep``: None = tab if the first line has one, else comma if it has one,
    else whitespace. Times: numbers, or dates pandas can parse (then seconds since the epoch).
    Weights must be finite and >= 0. Duplicate (user, item) pairs are merged (weights summed, the
    latest time kept) and counted. Original ids become strings, indices follow their sorted order.
    """
    import pandas as pd

    path = os.fspath(path)
    if not os.path.exists(path):
        raise NegsampleError(f"interactions file not found: {path}")
    if not os.path.isfile(path):
        raise NegsampleError(f"interactions {path} is not a regular file")
    if os.path.getsize(path) == 0:
        raise NegsampleError(f"{path}: empty file, no interactions")
    parquet = path.endswith(".parquet")
    if parquet:
        try:
            df = pd.read_parquet(path)
        except ImportError:
            raise NegsampleError("reading Parquet needs pyarrow: pip install 'negsample[pandas]'") from None
        except Exception as exc:  # noqa: BLE001 - pyarrow raises many types for a bad file
            raise NegsampleError(f"{path}: not a readable Parquet file ({type(exc).__name__}: {exc})") from None
        df.columns = [str(c) for c in df.columns]
        cols, has_header, line0 = list(df.columns), True, 0
    else:
        sep, has_header, cols = _sniff(path, sep, header, (user_col, item_col, weight_col, time_col))
        line0 = 2 if has_header else 1

    def find(what, explicit, names, position):
        if explicit is False:
            return None
        if explicit is not None:
            if isinstance(explicit, (int, np.integer)) and not isinstance(explicit, bool):
                if not 0 <= explicit < len(cols):
                    raise NegsampleError(f"{path}: no column {explicit} (the file has {len(cols)} columns)")
                return cols[explicit]
            if str(explicit) not in cols:
                raise NegsampleError(f"{path}: no {what} column {explicit!r} (columns: "
                                     f"{', '.join(map(str, cols))})")
            return str(explicit)
        if has_header:
            low = {str(c).lower(): c for c in cols}
            for n in names:
                if n in low:
                    return low[n]
        if position is not None and position < len(cols) and (not has_header or what in ("user", "item")):
            return cols[position]
        return None

    uc = find("user", user_col, USER_NAMES, 0)
    ic = find("item", item_col, ITEM_NAMES, 1)
    if uc is None or ic is None or uc == ic:
        raise NegsampleError(f"{path}: needs distinct user and item columns (columns: {', '.join(map(str, cols))})")
    wc = find("weight", weight_col, WEIGHT_NAMES, 2)
    tc = find("time", time_col, TIME_NAMES, 3)
    if wc in (uc, ic):
        wc = None
    if tc in (uc, ic, wc):
        tc = None
    if not parquet:
        df = _read_text(pd, path, sep, has_header, [c for c in (uc, ic, wc, tc) if c is not None], (uc, ic))
    if len(df) == 0:
        raise NegsampleError(f"{path}: no interactions")
    for c, what in ((uc, "user"), (ic, "item")):
        bad = df[c].isna().to_numpy()
        if bad.any():
            raise NegsampleError(f"{path}: line {line0 + int(np.argmax(bad))} has no {what} (column {c!r})")
    users, user_ids = _factorize(df[uc])
    items, item_ids = _factorize(df[ic])
    if wc is not None:
        weights = _numeric(pd, df[wc], path, "weight", wc, line0).astype(np.float32)
        if np.any(weights < 0):
            raise NegsampleError(f"{path}: weight column {wc!r} has a negative value on line "
                                 f"{line0 + int(np.argmax(weights < 0))}; weights must be >= 0")
    else:
        weights = np.ones(users.size, np.float32)
    times = _times(pd, df[tc], path, tc, line0) if tc is not None else None
    return _merge_duplicates(users, items, weights, times, user_ids, item_ids)


def _sniff(path, sep, header, requested):
    """(sep, has_header, column labels: header names or positions) from the file's first lines."""
    import re

    try:
        with nsio.open_text(path, "interactions file", errors="replace") as fh:
            head = [ln for ln in (fh.readline() for _ in range(200)) if ln]
    except (OSError, EOFError, UnicodeDecodeError, lzma.LZMAError) as exc:
        raise NegsampleError(f"{path}: cannot read ({exc})") from None
    lines = [ln.rstrip("\r\n") for ln in head if ln.strip() and not ln.startswith("#")]
    if not lines:
        raise NegsampleError(f"{path}: no interactions")
    if sep is None:
        sep = "\t" if "\t" in lines[0] else ("," if "," in lines[0] else r"\s+")
    split = ((lambda x: re.split(r"\s+", x.strip())) if sep == r"\s+"
             else (lambda x: [c.strip().strip('"') for c in x.split(sep)]))
    if header is None:
        header = _infer_header([split(ln) for ln in lines], requested)
    first = split(lines[0])
    return sep, bool(header), (first if header else list(range(len(first))))


def _read_text(pd, path, sep, header, usecols, id_cols):
    """DataFrame of the used columns (ids as strings, the others as pandas infers them)."""
    import re

    try:
        # all columns are read (no usecols): a line with more fields than the first is an error,
        # not a silently dropped column
        df = pd.read_csv(path, sep=sep, header=0 if header else None, dtype={c: str for c in id_cols},
                         comment="#", skip_blank_lines=True, engine="c")
    except pd.errors.EmptyDataError:
        raise NegsampleError(f"{path}: no interactions") from None
    except pd.errors.ParserError as exc:
        m = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(exc))
        if m:
            raise NegsampleError(f"{path}: line {m.group(2)} has {m.group(3)} fields, expected {m.group(1)} "
                                 "(every line needs the same columns)") from None
        raise NegsampleError(f"{path}: cannot parse ({str(exc).splitlines()[0]})") from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise NegsampleError(f"{path}: cannot parse ({str(exc).splitlines()[0]})") from None
    if header:
        df.columns = [str(c).strip() for c in df.columns]
    return df[usecols]


def _infer_header(rows, requested):
    """True when the first row names a requested or usual column, or has text above a column of
    numbers (rows: the first lines, split)."""
    first = rows[0]
    low = {c.lower() for c in first}
    names = {str(r).lower() for r in requested if isinstance(r, str)}
    if names & low or low & set(USER_NAMES + ITEM_NAMES + WEIGHT_NAMES + TIME_NAMES):
        return True
    rest = rows[1:]
    for j, cell in enumerate(first):
        if _is_number(cell):
            continue
        col = [r[j] for r in rest if j < len(r)]
        if col and all(_is_number(c) for c in col):
            return True
    return False


def _is_number(s):
    try:
        float(s)
        return True
    except ValueError:
        return False


def _factorize(column):
    """(int64 codes, sorted list of str ids)."""
    import pandas as pd

    codes, uniques = pd.factorize(column.astype(str), sort=True)
    return codes.astype(np.int64), [str(x) for x in uniques]


def _numeric(pd, column, path, what, name, line0):
    if column.dtype.kind in "iuf":
        vals = column.to_numpy(dtype=np.float64)
    else:
        vals = pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64)
    bad = ~np.isfinite(vals)
    if bad.any():
        j = int(np.argmax(bad))
        raise NegsampleError(f"{path}: {what} column {name!r} is not numeric: {column.iloc[j]!r} on line {line0 + j}"
                             + (" (pass --no-header if the file has no header, or name the columns)" if j == 0 else ""))
    return vals


def _times(pd, column, path, name, line0):
    if column.dtype.kind in "iuf":
        return _numeric(pd, column, path, "time", name, line0)
    vals = pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64)
    if np.isfinite(vals).all():
        return vals
    if np.isfinite(vals).any():
        return _numeric(pd, column, path, "time", name, line0)
    try:
        t = pd.to_datetime(column, errors="raise")
    except (ValueError, TypeError):
        return _numeric(pd, column, path, "time", name, line0)
    return (t - pd.Timestamp(0, tz=getattr(t.dt, "tz", None))).dt.total_seconds().to_numpy(np.float64)


def _merge_duplicates(users, items, weights, times, user_ids, item_ids):
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
    return Interactions(users, items, weights, times, user_ids, item_ids, int(dups))


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


def fingerprint(user_items) -> str:
    """A short hash of a user-item matrix's sparsity pattern (which (user, item) pairs it holds)."""
    m = _as_user_items(user_items)
    h = hashlib.sha1()
    h.update(np.asarray(m.shape, np.int64).tobytes())
    h.update(m.indptr.astype(np.int64).tobytes())
    h.update(m.indices.astype(np.int64).tobytes())
    return h.hexdigest()[:16]


def _as_user_items(user_items, name="user_items"):
    """A canonical CSR (float32 values, duplicates summed, sorted indices) from a scipy matrix."""
    if not sp.issparse(user_items):
        raise NegsampleError(f"{name} must be a scipy.sparse matrix (users x items), got {type(user_items).__name__}")
    m = sp.csr_matrix(user_items, dtype=np.float32, copy=True)
    m.sum_duplicates()
    m.sort_indices()
    if m.nnz and not np.all(np.isfinite(m.data)):
        raise NegsampleError(f"{name} contains NaN or infinite values")
    return m


# --------------------------------------------------------------------------- model

class ImplicitModel:
    """Embeddings for implicit feedback trained with sampled negatives (see the module docstring).

    negatives: a ``NegativeSampler`` (any noise: "frequency" = item popularity^ns_exponent,
    "uniform", custom weights, mixtures; its filters) or a mode "per-user" | "per-example" |
    "shared" (see the module docstring); ``negative`` / ``ns_exponent`` / ``candidates`` are
    shorthand for the default sampler (k = ``negative`` filtered draws from
    popularity^ns_exponent; in per-example mode the top-scoring k of ``candidates`` draws, dynamic
    negatives; ``candidates=0``: plain draws). ``None`` for ``negative``, ``candidates``,
    ``epochs``, ``lr``, ``reg``, ``loss`` means the mode's default (``MODE_DEFAULTS``).
    Per-user mode: ``steps_per_user`` groups per user and epoch, ``item_context`` /
    ``context_exponent`` the item-context part of the user vector; loss "softmax" only.
    Per-example / shared: loss "bpr" or "sgns". ``exclude_known``: the user's training items are
    the sampler's known positives (unless it has its own).
    weighting: how the values v_e of ``user_items`` count: "confidence" scales each interaction's
    gradient by c_e = (1 + confidence_alpha v_e) / mean(1 + confidence_alpha v) (mean 1, so the
    learning rate keeps its meaning); "sample" (per-example / shared) draws each epoch's n
    interactions with replacement with probability v_e / sum(v); "none" binarises.

    After ``fit``: ``user_factors`` (U, d) the vectors the model scores with, ``item_factors``
    (I, d), ``item_bias`` (I,); with item context also ``context_factors`` (I, d) (the y_j) and
    ``user_offsets`` (U, d) (the free part P_u).

    Defaults (dim 64, per-user sampled softmax with item context: k = 50 negatives per group from
    popularity^0.5, 10 groups per user, 10 epochs, lr 0.1, reg 0.03) were chosen by a grid on
    MovieLens 100K leave-last-out and checked on a held-out leave-two-out split
    (benchmarks/RESULTS.md, "Recommendation: per-user sampled softmax").

    >>> model = ImplicitModel().fit(user_items)
    >>> ids, scores = model.recommend(np.arange(10), user_items[:10], N=10)
    """

    def __init__(self, dim=64, negative=None, ns_exponent=0.5, candidates=None, negatives=None, epochs=None,
                 lr=None, min_lr=None, reg=None, loss=None, item_context=True, steps_per_user=10,
                 context_exponent=0.5, weighting="confidence", confidence_alpha=1.0, exclude_known=True, threads=2,
                 seed=1, init_std=0.1):
        if negatives is None or isinstance(negatives, str):
            mode = negatives or "per-user"
            if mode not in TRAIN_MODES:
                raise NegsampleError(f"negatives must be one of {', '.join(TRAIN_MODES)} or a NegativeSampler, "
                                     f"got {negatives!r}")
            defaults = MODE_DEFAULTS[mode]
            cand = defaults["candidates"] if candidates is None else candidates
            negatives = NegativeSampler(negative=defaults["negative"] if negative is None else negative,
                                        ns_exponent=ns_exponent, mode=mode,
                                        candidates=cand if mode == "per-example" and cand else None)
        self.sampler = as_sampler(negatives, modes=TRAIN_MODES)
        mode = self.sampler.mode
        defaults = MODE_DEFAULTS[mode]
        self.negative = self.sampler.negative
        self.ns_exponent = self.sampler.ns_exponent
        self.dim = check_positive_int("dim", dim)
        self.epochs = check_positive_int("epochs", defaults["epochs"] if epochs is None else epochs)
        self.lr = check_finite_float("lr", defaults["lr"] if lr is None else lr, minimum=0.0, strict_min=True)
        self.min_lr = self.lr * 0.01 if min_lr is None else check_finite_float("min_lr", min_lr, minimum=0.0)
        self.reg = check_finite_float("reg", defaults["reg"] if reg is None else reg, minimum=0.0)
        loss = defaults["loss"] if loss is None else loss
        if loss not in LOSSES:
            raise NegsampleError(f"loss must be one of {', '.join(LOSSES)}, got {loss!r}")
        if loss not in MODE_LOSSES[mode]:
            raise NegsampleError(f"negatives {mode!r} train loss {' or '.join(MODE_LOSSES[mode])}, not {loss!r} "
                                 f"(loss 'softmax' needs negatives 'per-user')")
        self.item_context = bool(item_context)
        self.steps_per_user = check_positive_int("steps_per_user", steps_per_user)
        self.context_exponent = check_finite_float("context_exponent", context_exponent, minimum=0.0)
        if mode == "per-user" and weighting == "sample":
            raise NegsampleError("weighting 'sample' draws interactions one by one: use negatives 'per-example' or "
                                 "'shared', or weighting 'confidence'")
        self.loss = loss
        if weighting not in WEIGHTINGS:
            raise NegsampleError(f"weighting must be one of {', '.join(WEIGHTINGS)}, got {weighting!r}")
        self.weighting = weighting
        self.confidence_alpha = check_finite_float("confidence_alpha", confidence_alpha, minimum=0.0)
        self.exclude_known = bool(exclude_known)
        self.threads = check_positive_int("threads", threads)
        self.seed = check_positive_int("seed", seed, minimum=0)
        self.init_std = check_finite_float("init_std", init_std, minimum=0.0)
        self.user_factors = self.item_factors = self.item_bias = None
        self.context_factors = self.user_offsets = None
        self.item_popularity = None
        self.user_ids = self.item_ids = None
        self.holdout = None
        self.train_fingerprint = None
        self.neg_count = self.neg_grad = None
        self.sampler_ = None
        self.stats = {}

    @property
    def negatives(self) -> str:
        return self.sampler.mode

    @property
    def n_users(self):
        return 0 if self.user_factors is None else self.user_factors.shape[0]

    @property
    def n_items(self):
        return 0 if self.item_factors is None else self.item_factors.shape[0]

    # ------------------------------------------------------------------ training
    def fit(self, user_items, progress=False, instrument=False, holdout=None, monitor_positives=None):
        """Train on ``user_items``: a scipy.sparse (users x items) matrix (internal indices, like
        implicit's ``fit``), or ``Interactions`` (whose original ids the model then keeps).
        ``holdout``: what was held out of the data ("last", "none"; recorded, checked by the CLI's
        evaluation). ``instrument``: per-item negative counts and gradient norms (one thread).
        ``monitor_positives``: a (users x items) matrix of positives hidden from training (e.g. the
        held-out test items): how often negatives / candidates hit them is reported in
        ``stats["adaptive"]["false_negatives"]``."""
        from .kernels.noise import N_FILTER_COUNTS, stream_seed
        from .kernels.recsys import ACC_STRIDE, N_STATS, STATS, train_epoch, train_users

        user_ids = item_ids = None
        if isinstance(user_items, Interactions):
            user_ids, item_ids = list(user_items.user_ids), list(user_items.item_ids)
            user_items = user_items.to_csr()
        X = _as_user_items(user_items)
        U, I = X.shape
        if X.nnz == 0:
            raise NegsampleError("no interactions to train on")
        per_user = self.sampler.mode == "per-user"
        context = per_user and self.item_context
        if per_user and (self.sampler.times is not None or self.sampler.labels is not None):
            raise NegsampleError("the time-window and label filters compare a negative with one positive item: use "
                                 "negatives 'per-example' with them (per-user groups share their negatives)")
        _check_model_size(U, I, self.dim, tables=3 if context else 2)
        users = np.repeat(np.arange(U, dtype=np.int64), np.diff(X.indptr))
        items = X.indices.astype(np.int64)
        indptr = X.indptr.astype(np.int64)
        conf, sample_p = self._weights(X.data)
        pop = np.bincount(items, minlength=I).astype(np.float64)
        sampler = self.sampler
        if self.exclude_known and sampler.known_positives is None:
            sampler = sampler.copy(known_positives=(indptr, items))
        elif sampler is self.sampler:
            sampler = sampler.copy()
        sampler.fit(counts=pop, keys=item_ids, n_rows=U)
        if sampler.filter_[0].size > 1 and sampler.filter_[0].size - 1 != U:
            raise NegsampleError(f"the sampler's known positives have {sampler.filter_[0].size - 1} rows for {U} users")
        prob, alias, filt = sampler.kernel_noise()
        rng = as_rng(self.seed)
        P = (rng.standard_normal((U, self.dim)) * self.init_std).astype(np.float32)
        Q = (rng.standard_normal((I, self.dim)) * self.init_std).astype(np.float32)
        b = np.zeros(I, np.float32)
        adaptive = sampler.kernel_adaptive()
        gen = sampler.generator
        if gen is not None:
            G_users = (rng.standard_normal((U, gen.dim)) * gen.init_std).astype(np.float32)
            G_items = (rng.standard_normal((I, gen.dim)) * gen.init_std).astype(np.float32)
        else:
            G_users = G_items = np.zeros((1, 1), np.float32)
        if per_user:
            Y = ((rng.standard_normal((I, self.dim)) * self.init_std).astype(np.float32) if context
                 else np.zeros((0, self.dim), np.float32))
            acc_users, acc_items = np.zeros((U, 1), np.float32), np.zeros((I, ACC_STRIDE), np.float32)
            q = sampler.noise_probabilities(counts=pop, keys=item_ids)
            with np.errstate(divide="ignore"):
                log_kq = np.log(self.negative * q).astype(np.float32)   # -inf where q = 0: never drawn
        if monitor_positives is not None:
            mon = _as_user_items(monitor_positives, "monitor_positives")
            if mon.shape != X.shape:
                raise NegsampleError(f"monitor_positives has shape {mon.shape}, user_items {X.shape}")
            mon_indptr, mon_indices = mon.indptr.astype(np.int64), mon.indices.astype(np.int64)
        else:
            mon_indptr, mon_indices = np.zeros(1, np.int64), np.zeros(0, np.int64)
        neg_count = np.zeros(I if instrument else 0)
        neg_grad = np.zeros(I if instrument else 0)
        n = items.size
        n_units = U if per_user else n
        threads = 1 if instrument else min(self.threads, max(1, n_units // 64))
        bounds = np.linspace(0, n_units, threads + 1).astype(np.int64)
        bar = Progress(self.epochs, unit="epochs", desc="recsys", enabled=progress)
        t0 = time.perf_counter()
        losses = []
        total = np.zeros(N_STATS)
        counts_total = np.zeros(N_FILTER_COUNTS, np.int64)
        pool = ThreadPoolExecutor(threads) if threads > 1 else None
        try:
            for epoch in range(self.epochs):
                lr = self.lr - (self.lr - self.min_lr) * epoch / max(1, self.epochs - 1)
                if per_user:
                    order = rng.permutation(U).astype(np.int64)
                else:
                    order = (rng.permutation(n) if sample_p is None
                             else rng.choice(n, size=n, p=sample_p)).astype(np.int64)
                st = [np.zeros(N_STATS) for _ in range(threads)]
                cnt = [np.zeros(N_FILTER_COUNTS, np.int64) for _ in range(threads)]
                gstates = [np.zeros(1) for _ in range(threads)] if epoch == 0 else gstates

                def run(t, lr=lr, order=order, st=st, cnt=cnt, epoch=epoch):
                    seed = np.uint64(stream_seed(self.seed, epoch, t))
                    if per_user:
                        train_users(P, Y, Q, b, acc_users, acc_items, indptr, items, conf, order, bounds[t], bounds[t + 1],
                                    prob, alias, filt, log_kq, self.negative, self.steps_per_user,
                                    np.float32(self.context_exponent), np.float32(lr), np.float32(self.reg), seed,
                                    mon_indptr, mon_indices, neg_count, neg_grad, st[t], cnt[t])
                    else:
                        train_epoch(P, Q, b, users, items, conf, order, bounds[t], bounds[t + 1], prob, alias, filt,
                                    self.negative, np.float32(lr), np.float32(self.reg), seed,
                                    self.loss == "bpr", sampler.mode == "shared", adaptive, G_users, G_items,
                                    gstates[t], mon_indptr, mon_indices, neg_count, neg_grad, st[t], cnt[t])

                if pool is None:
                    run(0)
                else:
                    list(pool.map(run, range(threads)))
                tot = np.sum(st, axis=0)
                total += tot
                counts_total += np.sum(cnt, axis=0)
                losses.append(float(tot[0] / max(tot[1], 1)))
                _check_diverged(epoch, losses[-1], (P, Q, b) + ((Y,) if per_user else ()), self.lr)
                bar.update(epoch + 1, loss=losses[-1], lr=lr)
        finally:
            if pool is not None:
                pool.shutdown()
        bar.close()
        self.item_factors, self.item_bias = Q, b
        self.context_factors = Y if context else None
        self.user_offsets = P if context else None
        # the user vectors the model scores with: P_u + |I_u|^-alpha sum_{j in I_u} y_j
        self.user_factors = P + self.user_vectors(X) if context else P
        self.user_ids, self.item_ids = user_ids, item_ids
        self.item_popularity = pop
        self.holdout = holdout
        self.train_fingerprint = fingerprint(X)
        self.sampler_ = sampler
        s = dict(zip(STATS, total.tolist()))
        draws = int(s["groups"]) * self.negative if per_user else int(s["positives"]) * (adaptive[0] or self.negative)
        sampler.record(counts_total, draws)
        if sampler is not self.sampler:
            self.sampler.record(counts_total, draws)
        if instrument:
            self.neg_count, self.neg_grad = neg_count, neg_grad
        report = _adaptive_report(s, sampler, monitor_positives is not None)
        if gen is not None:
            self.generator_factors_ = (G_users, G_items)
        sampler.adaptive_stats_ = report
        self.sampler.adaptive_stats_ = report
        self.stats = {"train_seconds": time.perf_counter() - t0, "epoch_losses": losses, "interactions": int(n),
                      "negatives": sampler.mode, "negatives_used": int(s["negatives"]),
                      "filter": sampler.stats_.as_dict(), "adaptive": report}
        return self

    def _weights(self, values):
        """(conf (n,) float32, sampling probabilities (n,) or None) from the matrix's values."""
        v = np.asarray(values, dtype=np.float64)
        if v.size and v.min() < 0:
            raise NegsampleError("user_items has negative values; weights must be >= 0")
        n = v.size
        if self.weighting == "confidence":
            c = 1.0 + self.confidence_alpha * v
            return (c / c.mean()).astype(np.float32), None
        if self.weighting == "sample":
            if not v.sum() > 0:
                raise NegsampleError("weighting='sample' needs some positive values in user_items")
            return np.ones(n, np.float32), v / v.sum()
        return np.ones(n, np.float32), None

    # ------------------------------------------------------------------ ids
    def _ids(self, kind):
        ids = self.user_ids if kind == "user" else self.item_ids
        if ids is None:
            raise NegsampleError(f"this model has no original {kind} ids (it was fitted on a matrix): use indices")
        return ids

    def user_index(self, users):
        """Internal indices of original user ids (a scalar or a list)."""
        return self._index("user", users)

    def item_index(self, items):
        """Internal indices of original item ids (a scalar or a list)."""
        return self._index("item", items)

    def _index(self, kind, values):
        ids = self._ids(kind)
        pos = getattr(self, f"_{kind}_pos", None)
        if pos is None or len(pos) != len(ids):
            pos = {k: j for j, k in enumerate(ids)}
            setattr(self, f"_{kind}_pos", pos)
        scalar = np.isscalar(values) or isinstance(values, str)
        out = []
        for v in ([values] if scalar else list(values)):
            try:
                out.append(pos[str(v)])
            except KeyError:
                raise NegsampleError(f"unknown {kind} {v!r}: not in the training interactions") from None
        return out[0] if scalar else np.asarray(out, dtype=np.int64)

    def set_ids(self, user_ids, item_ids):
        """Attach the original ids (index = internal index) to a model fitted on a matrix."""
        self._fitted()
        if len(user_ids) != self.n_users or len(item_ids) != self.n_items:
            raise NegsampleError(f"ids: {len(user_ids)} users / {len(item_ids)} items for a model of "
                                 f"{self.n_users} / {self.n_items}")
        self.user_ids, self.item_ids = [str(x) for x in user_ids], [str(x) for x in item_ids]
        return self

    def item_labels(self, indices):
        """Original item ids of internal indices (array-shaped like ``indices``)."""
        ids = np.asarray(self._ids("item"), dtype=object)
        return ids[np.asarray(indices, dtype=np.int64)]

    def user_labels(self, indices):
        ids = np.asarray(self._ids("user"), dtype=object)
        return ids[np.asarray(indices, dtype=np.int64)]

    # ------------------------------------------------------------------ inference
    def _fitted(self):
        if self.item_factors is None:
            raise NegsampleError("the model is not trained: call fit(user_items) first")

    def scores(self, userids):
        """x_ui for users (B,) against every item: (B, n_items) float32."""
        self._fitted()
        return self.user_factors[userids] @ self.item_factors.T + self.item_bias

    def user_vectors(self, user_items):
        """Fold-in: user vectors from interactions alone, n_b^-context_exponent sum_{j in row b} y_j
        (the item-context part of the user vector; what a user unseen in training gets), (B, d)
        float32 for a (B, n_items) matrix (stored entries count 1). Needs a model trained with
        item context."""
        self._fitted()
        if self.context_factors is None:
            raise NegsampleError("user vectors from items need a model trained with item context "
                                 "(negatives='per-user', item_context=True)")
        X = _as_user_items(user_items)
        if X.shape[1] != self.n_items:
            raise NegsampleError(f"user_items has {X.shape[1]} items, the model {self.n_items}")
        binary = sp.csr_matrix((np.ones(X.nnz, np.float32), X.indices, X.indptr), shape=X.shape)
        rows = np.diff(X.indptr).astype(np.float64)
        norm = np.where(rows > 0, np.maximum(rows, 1.0) ** -self.context_exponent, 0.0).astype(np.float32)
        return np.asarray(binary @ self.context_factors, dtype=np.float32) * norm[:, None]

    def recommend(self, userid, user_items=None, N=10, filter_already_liked_items=True, filter_items=None,
                  recalculate_user=False):
        """Top-N items for internal user indices, like ``implicit``: returns (ids (B, N) int32,
        scores (B, N) float32), or 1-D arrays for a scalar ``userid``. ``user_items``: a CSR whose
        rows are those users' interactions (row b for userid[b]), used to filter the items they
        already liked; ``filter_items``: item indices never recommended. ``recalculate_user``:
        score with ``user_vectors(user_items)`` instead of the trained user vectors (users unseen
        in training; ``userid`` then only numbers the rows). Fewer than N candidates: the
        remaining slots are id -1 and score -inf."""
        self._fitted()
        scalar = np.ndim(userid) == 0
        uids = np.atleast_1d(np.asarray(userid, dtype=np.int64))
        if not recalculate_user and uids.size and (uids.min() < 0 or uids.max() >= self.n_users):
            raise NegsampleError(f"user indices must lie in [0, {self.n_users})")
        N = check_positive_int("N", N)
        rows = None
        if filter_already_liked_items or recalculate_user:
            if user_items is None:
                raise NegsampleError(f"{'recalculate_user' if recalculate_user else 'filter_already_liked_items'} "
                                     "needs user_items (the users' rows)")
            rows = _as_user_items(user_items)
            if rows.shape[0] != uids.size:
                raise NegsampleError(f"user_items must have one row per userid ({uids.size}), got {rows.shape[0]} "
                                     "(pass user_items[userids])")
            if rows.shape[1] != self.n_items:
                raise NegsampleError(f"user_items has {rows.shape[1]} items, the model {self.n_items}")
        vectors = self.user_vectors(rows) if recalculate_user else None
        n = min(N, self.n_items)
        ids = np.full((uids.size, N), -1, np.int32)
        out = np.full((uids.size, N), -np.inf, np.float32)
        for s in range(0, uids.size, 1024):
            if vectors is None:
                sc = self.scores(uids[s:s + 1024]).astype(np.float32)
            else:
                sc = (vectors[s:s + 1024] @ self.item_factors.T + self.item_bias).astype(np.float32)
            if filter_already_liked_items:
                sub = rows[s:s + 1024]
                sc[np.repeat(np.arange(sub.shape[0]), np.diff(sub.indptr)), sub.indices] = -np.inf
            if filter_items is not None:
                sc[:, np.asarray(filter_items, dtype=np.int64)] = -np.inf
            top = _top_n(sc, n)
            val = np.take_along_axis(sc, top, 1)
            ok = np.isfinite(val)
            ids[s:s + len(top), :n] = np.where(ok, top, -1)
            out[s:s + len(top), :n] = val
        return (ids[0], out[0]) if scalar else (ids, out)

    def similar_items(self, itemid, N=10):
        """The N items whose vectors have the highest cosine similarity with each item's (the item
        itself first, like implicit): (ids (B, N), scores (B, N)), 1-D for a scalar ``itemid``."""
        self._fitted()
        scalar = np.ndim(itemid) == 0
        iids = np.atleast_1d(np.asarray(itemid, dtype=np.int64))
        if iids.size and (iids.min() < 0 or iids.max() >= self.n_items):
            raise NegsampleError(f"item indices must lie in [0, {self.n_items})")
        N = min(check_positive_int("N", N), self.n_items)
        Qn = self.item_factors / np.maximum(np.linalg.norm(self.item_factors, axis=1, keepdims=True), 1e-12)
        sc = Qn[iids] @ Qn.T
        sc[np.arange(iids.size), iids] = np.inf  # the item itself first, even among ties
        top = _top_n(sc, N)
        val = np.take_along_axis(sc, top, 1)
        val[:, 0] = np.where(top[:, 0] == iids, 1.0, val[:, 0])
        top = top.astype(np.int32)
        return (top[0], val[0]) if scalar else (top, val)

    # ------------------------------------------------------------------ persistence
    def save(self, path):
        """Write the model (negsample archive, kind "recsys-model"; no pickle)."""
        self._fitted()
        strings = {}
        if self.user_ids is not None:
            strings["user_ids"] = [str(x) for x in self.user_ids]
            strings["item_ids"] = [str(x) for x in self.item_ids]
        meta = {"dim": self.dim, "loss": self.loss, "negative": self.negative, "ns_exponent": self.ns_exponent,
                "candidates": self.sampler.candidates,
                "negatives": self.negatives, "epochs": self.epochs, "lr": self.lr, "reg": self.reg,
                "seed": self.seed, "weighting": self.weighting, "confidence_alpha": self.confidence_alpha,
                "item_context": self.item_context, "steps_per_user": self.steps_per_user,
                "context_exponent": self.context_exponent,
                "holdout": self.holdout, "train_fingerprint": self.train_fingerprint,
                "n_users": self.n_users, "n_items": self.n_items}
        arrays = {"user_factors": self.user_factors, "item_factors": self.item_factors,
                  "item_bias": self.item_bias, "item_popularity": self.item_popularity}
        if self.context_factors is not None:
            arrays["context_factors"] = self.context_factors
        nsio.save_arrays(path, MODEL_KIND, arrays, meta, strings, version=MODEL_VERSION)

    @classmethod
    def load(cls, path):
        """Read a model written by ``save`` (shapes, dtypes and finiteness checked)."""
        arrays, strings, meta, _ = nsio.load_arrays(path, MODEL_KIND, MODEL_VERSION,
                                                    required=("user_factors", "item_factors", "item_bias"))
        P = nsio.check_array(arrays, "user_factors", path, dtype=np.float32, ndim=2, finite=True)
        Q = nsio.check_array(arrays, "item_factors", path, dtype=np.float32, ndim=2, finite=True)
        if P.shape[1] != Q.shape[1] or P.shape[1] < 1:
            raise NegsampleError(f"{path}: user and item factors have different dimensions ({P.shape[1]}, {Q.shape[1]})")
        b = nsio.check_array(arrays, "item_bias", path, dtype=np.float32, shape=(Q.shape[0],), finite=True)
        pop = (nsio.check_array(arrays, "item_popularity", path, dtype=np.float64, shape=(Q.shape[0],), finite=True)
               if "item_popularity" in arrays else None)
        try:
            m = cls(dim=P.shape[1], loss=meta.get("loss", "bpr"), negative=meta.get("negative", 5),
                    ns_exponent=meta.get("ns_exponent", 0.75), negatives=meta.get("negatives", "per-example"),
                    candidates=meta.get("candidates") or 0,
                    epochs=meta.get("epochs", 1), lr=meta.get("lr", 0.05), reg=meta.get("reg", 0.0),
                    seed=meta.get("seed", 1), weighting=meta.get("weighting", "confidence"),
                    confidence_alpha=meta.get("confidence_alpha", 1.0),
                    item_context=meta.get("item_context", False), steps_per_user=meta.get("steps_per_user", 10),
                    context_exponent=meta.get("context_exponent", 0.5))
        except NegsampleError as exc:
            raise NegsampleError(f"{path}: bad model metadata: {exc}") from None
        m.user_factors, m.item_factors, m.item_bias, m.item_popularity = P, Q, b, pop
        if "context_factors" in arrays:
            m.context_factors = nsio.check_array(arrays, "context_factors", path, dtype=np.float32, shape=Q.shape,
                                                 finite=True)
        if "user_ids" in strings or "item_ids" in strings:
            if len(strings.get("user_ids", ())) != P.shape[0] or len(strings.get("item_ids", ())) != Q.shape[0]:
                raise NegsampleError(f"{path}: the id lists do not match the factor shapes")
            m.user_ids, m.item_ids = strings["user_ids"], strings["item_ids"]
        m.holdout = meta.get("holdout")
        m.train_fingerprint = meta.get("train_fingerprint")
        return m


def _adaptive_report(s, sampler, monitored):
    """Cost, hardness and false-negative statistics of the negatives used (kernel STATS dict)."""
    pos = max(s["positives"], 1.0)
    neg = max(s["negatives"], 1.0)
    cands = s["candidates"]
    f = sampler.stats_
    rep = {"kind": sampler.adaptive or "noise",
           "self_adversarial": sampler.adversarial_temperature is not None,
           "cost": {"scores_per_positive": (s["negatives"] + s["extra_scores"]) / pos,
                    "extra_scores_per_positive": s["extra_scores"] / pos,
                    "generator_scores_per_positive": s["generator_scores"] / pos,
                    "candidates_per_positive": cands / pos},
           "hardness": {"mean_margin": s["margin_sum"] / neg, "hard_fraction": s["hard"] / neg},
           "false_negatives": {"filtered_rate": f.rejection_rate, "dropped": f.dropped,
                               "by_reason": dict(f.by_reason)}}
    if sampler.adaptive in ("dynamic", "dynamic-softmax") and cands:
        rep["hardness"]["candidate_mean_margin"] = s["candidate_margin_sum"] / cands
    if monitored:
        rep["false_negatives"]["hidden_rate"] = s["monitor_hits"] / neg
        if cands:
            rep["false_negatives"]["candidate_hidden_rate"] = s["candidate_monitor_hits"] / cands
    if sampler.adversarial_temperature is not None:
        rep["weight_entropy"] = s["weight_entropy"] / pos
    if sampler.generator is not None:
        rep["mean_reward"] = s["reward_sum"] / neg
    return rep


def _top_n(scores, n):
    """Indices of the n largest entries per row, best first (ties: lower index first)."""
    if n >= scores.shape[1]:
        return np.argsort(-scores, axis=1, kind="stable")
    top = np.argpartition(-scores, n - 1, axis=1)[:, :n]
    order = np.lexsort((top, -np.take_along_axis(scores, top, 1)), axis=1)
    return np.take_along_axis(top, order, 1)


def _check_model_size(U, I, dim, tables=2):
    need = (U + (tables - 1) * I) * dim * 4 + I * 24
    have = nsio._physical_memory()
    if need > have // 2:
        raise NegsampleError(f"a model of {U} users and {I} items at dim {dim} needs {need / 2**30:.1f} GiB, more "
                             f"than half this machine's memory ({have / 2**30:.1f} GiB): lower the dimension")


def _check_diverged(epoch, loss, tables, lr):
    what = None
    if not np.isfinite(loss):
        what = "loss"
    elif not all(np.isfinite(t).all() for t in tables):
        what = "weights"
    if what:
        raise NegsampleError(f"training diverged at epoch {epoch + 1} (non-finite {what}): lower the learning "
                             f"rate (--lr, now {lr:g})")


# --------------------------------------------------------------------------- evaluation

def evaluate(score_fn, train_csr, test_users, test_items, k=10, batch=512):
    """Recall@k (= hit rate with one held-out item), NDCG@k and catalogue coverage.

    score_fn(user_indices) -> (B, n_items) scores; the user's training items are excluded.
    """
    k = check_positive_int("k", k)
    n_items = train_csr.shape[1]
    if k > n_items:
        raise NegsampleError(f"k={k} is larger than the catalogue ({n_items} items)")
    test_users = np.asarray(test_users)
    hits = np.zeros(test_users.size)
    ndcg = np.zeros(test_users.size)
    shown = np.zeros(n_items, bool)
    for s in range(0, test_users.size, batch):
        us = test_users[s:s + batch]
        sc = np.array(score_fn(us), dtype=np.float64, copy=True)
        sub = train_csr[us]
        rows = np.repeat(np.arange(len(us)), np.diff(sub.indptr))
        sc[rows, sub.indices] = -np.inf
        top = _top_n(sc, k)
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
    pop = np.asarray((train_csr != 0).sum(0), dtype=np.float64).ravel()
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

def train_two_tower(user_items, dim=64, epochs=10, batch_size=1024, temperature=0.1, negatives=None, logq=True,
                    lr=0.01, seed=0):
    """User and item embedding towers trained with in-batch negatives (InfoNCE over the batch's
    items, accidental hits masked). ``negatives``: a NegativeSampler with mode "in-batch" (default:
    noise = item frequency, ``ns_exponent=1``): with ``logq`` its ln q(item) is subtracted from
    the logits (Yi et al. 2019). ``user_items``: CSR (users x items) or Interactions.
    Returns (user_factors, item_factors) as numpy arrays. Needs torch."""
    try:
        import torch
    except ImportError:
        raise NegsampleError("the two-tower path needs torch: pip install negsample[torch]") from None
    from .losses import info_nce

    sampler = negatives if negatives is not None else NegativeSampler(mode="in-batch", ns_exponent=1.0)
    sampler = as_sampler(sampler, modes=("in-batch",))
    if isinstance(user_items, Interactions):
        user_items = user_items.to_csr()
    X = _as_user_items(user_items)
    if X.nnz == 0:
        raise NegsampleError("no interactions to train on")
    U, I = X.shape
    torch.manual_seed(seed)
    users = torch.as_tensor(np.repeat(np.arange(U), np.diff(X.indptr)))
    items_np = X.indices.astype(np.int64)
    items = torch.as_tensor(items_np)
    fitted = sampler.copy().fit(counts=np.bincount(items_np, minlength=I).astype(np.float64))
    logq_all = torch.zeros(I, dtype=torch.float32)
    if logq:  # ln q(j) of every training item (sampler.logq refuses q = 0 for an item in a batch)
        seen = np.unique(items_np)
        logq_all[torch.as_tensor(seen)] = torch.as_tensor(fitted.logq(seen), dtype=torch.float32)
    Ut = torch.nn.Embedding(U, dim)
    Vt = torch.nn.Embedding(I, dim)
    torch.nn.init.normal_(Ut.weight, std=0.1)
    torch.nn.init.normal_(Vt.weight, std=0.1)
    opt = torch.optim.Adam(list(Ut.parameters()) + list(Vt.parameters()), lr=lr)
    g = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        perm = torch.randperm(users.numel(), generator=g)
        for s in range(0, perm.numel(), batch_size):
            idx = perm[s:s + batch_size]
            u, it = users[idx], items[idx]
            same = it.unsqueeze(0) == it.unsqueeze(1)  # accidental hits: the same item twice
            mask_fn = same & ~torch.eye(len(idx), dtype=torch.bool)
            loss = info_nce(Ut(u), Vt(it), None, temperature=temperature,
                            logq=logq_all[it] if logq else None, mask=mask_fn)
            opt.zero_grad()
            loss.backward()
            opt.step()
    return Ut.weight.detach().numpy().copy(), Vt.weight.detach().numpy().copy()
