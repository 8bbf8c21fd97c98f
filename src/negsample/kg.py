"""Knowledge-graph embeddings (TransE, DistMult, ComplEx, RotatE) trained with corruption
negatives drawn through the noise core, and their filtered link-prediction evaluation.

Data: (head, relation, tail) triples; ``load_kg`` reads ``head<TAB>relation<TAB>tail`` files
(the training file fixes the entity and relation ids; valid/test triples naming an unknown
entity or relation are dropped and counted).

Negatives (per positive (h, r, t), ``negative`` = k corruptions):
- which side: ``corruption="uniform"`` corrupts the head or the tail with probability 1/2;
  ``"bernoulli"`` (Wang et al. 2014) corrupts the head with probability tph / (tph + hpt) of the
  triple's relation (tph: mean number of tails per (head, relation) pair, hpt: mean number of
  heads per (relation, tail) pair), so one-to-many relations lose their heads, not their tails;
- which entity: the noise of the sampler, ``noise="uniform"`` or ``"frequency"``
  (q(e) ∝ count(e)^ns_exponent, count = occurrences in the training triples), or any
  ``NegativeSampler`` (custom weights, mixtures);
- ``filtered=True``: a corruption that is a known training triple is redrawn (up to the
  sampler's ``max_redraw``) or dropped, and counted in ``sampler.stats_``; the true entity
  itself is always redrawn. The filters are the core's known-positive CSR with one row per
  (head, relation) pair (row h * n_relations + r -> sorted true tails) and one per
  (relation, tail) pair (row t * n_relations + r -> heads);
- ``negatives="per-example"`` (k fresh draws per positive) or ``"shared"`` (one pool of k per
  block of ``batch_size`` positives, filtered per positive).

Loss and optimisation (``negsample.kernels.kg``): ``loss="nssa"`` (the RotatE log-sigmoid loss
with margin gamma, optionally self-adversarial: weights softmax(adversarial_temperature * f_j)
over each positive's negatives, no gradient through them) or ``"margin"`` (margin ranking);
mini-batches of ``batch_size`` positives per thread, one optimizer step each: Adam with
torch.optim.Adam's semantics (default; rows without a gradient follow their momentum, applied
lazily in closed form), ``"lazy_adam"`` (rows move only with a gradient), AdaGrad or SGD. Threads
(``parallel``): Hogwild (disjoint chunks, each thread its own steps on the shared tables) on large
graphs, synchronous (each step split across threads, one summed update) on graphs a step covers.

Evaluation (``evaluate``): for each test triple the true tail is ranked among all entities as
tails of (h, r, ?) and the true head among all entities as heads of (?, r, t), every other
entity forming a known triple (train, valid, test) removed ("filtered" setting). Ties get the
realistic rank (the mean of the optimistic and pessimistic ranks, i.e. the expected rank under
random tie breaking, as PyKEEN). Reported: MRR, MR, Hits@1/3/10 for heads, tails and both, and
per relation.
"""
from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from ._common import NegsampleError, Progress, as_rng, check_finite_float, check_positive_int
from .samplers import NegativeSampler

__all__ = ["KGData", "KGModel", "load_kg", "read_triples", "known_csr", "bernoulli_head_prob",
           "rank_triples", "rank_metrics", "MODELS", "LOSSES", "OPTIMIZERS", "CORRUPTIONS"]

MODELS = ("transe", "distmult", "complex", "rotate")
LOSSES = ("nssa", "margin")
OPTIMIZERS = ("sgd", "adagrad", "adam", "lazy_adam")
PARALLEL = ("auto", "hogwild", "sync")
CORRUPTIONS = ("uniform", "bernoulli")
KIND = "kg-model"
FORMAT_VERSION = 1

# per-model defaults: (p-norm of the distance, loss, margin gamma, adversarial temperature)
MODEL_DEFAULTS = {
    "transe": dict(p_norm=1, loss="nssa", margin=6.0, adversarial_temperature=0.0, normalize_entities=True),
    "distmult": dict(p_norm=2, loss="nssa", margin=0.0, adversarial_temperature=0.0, normalize_entities=True),
    "complex": dict(p_norm=2, loss="nssa", margin=0.0, adversarial_temperature=0.0, normalize_entities=False),
    "rotate": dict(p_norm=1, loss="nssa", margin=6.0, adversarial_temperature=1.0, normalize_entities=False),
}


# --------------------------------------------------------------------------- data

def read_triples(path) -> list:
    """(head, relation, tail) string triples from a tab-separated file (plain, .gz, .bz2, .xz);
    empty lines and lines starting with '#' are skipped."""
    from .io import read_fields

    return [tuple(parts) for _, parts in read_fields(path, 3, "triples file", "head<TAB>relation<TAB>tail")]


def map_triples(rows, entity_index: dict, relation_index: dict):
    """String triples -> ((n, 3) int64 array, number dropped for an unknown entity or relation)."""
    arr = np.empty((len(rows), 3), np.int64)
    n = 0
    for h, r, t in rows:
        hi = entity_index.get(h)
        ti = entity_index.get(t)
        ri = relation_index.get(r)
        if hi is None or ti is None or ri is None:
            continue
        arr[n] = (hi, ri, ti)
        n += 1
    return arr[:n], len(rows) - n


@dataclass
class KGData:
    """A knowledge graph split: entity and relation names (index = id) and (n, 3) int64 arrays of
    (head, relation, tail) ids; ``dropped`` counts valid/test triples with names unknown to train."""

    entities: list
    relations: list
    train: np.ndarray
    valid: np.ndarray = field(default_factory=lambda: np.empty((0, 3), np.int64))
    test: np.ndarray = field(default_factory=lambda: np.empty((0, 3), np.int64))
    dropped: dict = field(default_factory=dict)

    @property
    def n_entities(self):
        return len(self.entities)

    @property
    def n_relations(self):
        return len(self.relations)

    def all_triples(self):
        return np.concatenate([self.train, self.valid, self.test])

    def stats(self):
        return {"entities": self.n_entities, "relations": self.n_relations, "train": len(self.train),
                "valid": len(self.valid), "test": len(self.test), "dropped": dict(self.dropped)}


def resolve_split(path):
    """(train, valid, test) paths for ``path``: a triples file (valid/test None) or a prefix with
    ``PREFIX.train.tsv`` (and optionally ``.valid.tsv``, ``.test.tsv``) next to it."""
    path = os.fspath(path)
    if os.path.isfile(path):
        return path, None, None
    train = path + ".train.tsv"
    if not os.path.isfile(train):
        raise NegsampleError(f"triples file not found: {path} (nor {train})")
    valid, test = path + ".valid.tsv", path + ".test.tsv"
    return train, valid if os.path.isfile(valid) else None, test if os.path.isfile(test) else None


def load_kg(train, valid=None, test=None) -> KGData:
    """Read a split. ``train`` is a triples file or a prefix (``resolve_split``); entity and
    relation ids are given in order of first appearance in the training file."""
    if valid is None and test is None:
        train, valid, test = resolve_split(train)
    rows = read_triples(train)
    if not rows:
        raise NegsampleError(f"{train}: no triples")
    entities, relations = {}, {}
    for h, r, t in rows:
        entities.setdefault(h, len(entities))
        relations.setdefault(r, len(relations))
        entities.setdefault(t, len(entities))
    tr, _ = map_triples(rows, entities, relations)
    data = KGData(list(entities), list(relations), tr)
    for name, path in (("valid", valid), ("test", test)):
        if path is not None:
            arr, dropped = map_triples(read_triples(path), entities, relations)
            setattr(data, name, arr)
            data.dropped[name] = dropped
    return data


def _as_triples(triples, n_entities=None, n_relations=None, name="triples"):
    a = np.asarray(triples)
    if a.ndim != 2 or a.shape[1] != 3:
        raise NegsampleError(f"{name} must have shape (n, 3) = (head, relation, tail), got {a.shape}")
    if a.dtype.kind not in "iu":
        raise NegsampleError(f"{name} must be integer ids (use load_kg for names)")
    a = np.ascontiguousarray(a, dtype=np.int64)
    if a.size and a.min() < 0:
        raise NegsampleError(f"{name} contain negative ids")
    if n_entities is not None and a.size and max(a[:, 0].max(), a[:, 2].max()) >= n_entities:
        raise NegsampleError(f"{name} contain entity id {max(a[:, 0].max(), a[:, 2].max())} >= {n_entities} entities")
    if n_relations is not None and a.size and a[:, 1].max() >= n_relations:
        raise NegsampleError(f"{name} contain relation id {a[:, 1].max()} >= {n_relations} relations")
    return a


# --------------------------------------------------------------------------- statistics of a graph

def known_csr(triples, n_entities, n_relations, side="tail"):
    """The known-positive CSR of the noise core for a KG: side "tail" has one row per
    (head, relation) pair, row h * n_relations + r -> the sorted, distinct tails t with (h, r, t)
    in ``triples``; side "head" has row t * n_relations + r -> the heads. Returns (indptr (E*R+1,),
    indices) int64."""
    a = _as_triples(triples, n_entities, n_relations)
    n_rows = int(n_entities) * int(n_relations)
    if side == "tail":
        key, val = a[:, 0] * n_relations + a[:, 1], a[:, 2]
    elif side == "head":
        key, val = a[:, 2] * n_relations + a[:, 1], a[:, 0]
    else:
        raise NegsampleError(f"side must be 'head' or 'tail', got {side!r}")
    pairs = np.unique(key * np.int64(max(n_entities, 1)) + val) if a.size else np.empty(0, np.int64)
    rows = pairs // max(n_entities, 1)
    indices = pairs % max(n_entities, 1)
    indptr = np.zeros(n_rows + 1, np.int64)
    np.cumsum(np.bincount(rows, minlength=n_rows), out=indptr[1:])
    return indptr, np.ascontiguousarray(indices, dtype=np.int64)


def bernoulli_head_prob(triples, n_relations):
    """Per relation r: P(corrupt the head) = tph / (tph + hpt) (Wang et al. 2014), where tph is
    the mean number of distinct tails per (head, r) pair and hpt the mean number of distinct heads
    per (r, tail) pair. Relations without triples get 1/2. Returns (n_relations,) float64."""
    a = np.unique(_as_triples(triples, None, n_relations), axis=0)
    p = np.full(n_relations, 0.5)
    for r in np.unique(a[:, 1]):
        sub = a[a[:, 1] == r]
        tph = len(sub) / len(np.unique(sub[:, 0]))
        hpt = len(sub) / len(np.unique(sub[:, 2]))
        p[r] = tph / (tph + hpt)
    return p


def entity_counts(triples, n_entities):
    """Occurrences of each entity as a head or a tail, (n_entities,) float64."""
    a = _as_triples(triples, n_entities)
    return (np.bincount(a[:, 0], minlength=n_entities) + np.bincount(a[:, 2], minlength=n_entities)).astype(np.float64)


# --------------------------------------------------------------------------- evaluation

def _split(n, parts):
    return np.linspace(0, n, max(1, parts) + 1).astype(np.int64)


def rank_triples(model_code, p_norm, E, R, triples, known=None, sides=("head", "tail"), threads=1):
    """Filtered ranks of ``triples`` (n, 3): dict side -> (greater (n,), equal (n,)) int64 counts
    (see ``kernels.kg.rank_chunk``); ``known`` (m, 3) triples removed from the candidates (None:
    raw ranks)."""
    from .kernels.kg import HEAD, TAIL, rank_chunk

    n_ent, n_rel = E.shape[0], R.shape[0]
    a = _as_triples(triples, n_ent, n_rel)
    h, r, t = (np.ascontiguousarray(a[:, i]) for i in range(3))
    out = {}
    for side in sides:
        if known is not None:
            indptr, indices = known_csr(known, n_ent, n_rel, side)
        else:
            indptr, indices = np.zeros(1, np.int64), np.zeros(0, np.int64)
        g = np.zeros(len(a), np.int64)
        e = np.zeros(len(a), np.int64)
        code = TAIL if side == "tail" else HEAD
        bounds = _split(len(a), threads * 4 if threads > 1 else 1)

        def run(i):
            rank_chunk(model_code, p_norm, E, R, h, r, t, code, bounds[i], bounds[i + 1], indptr, indices, g, e)

        if threads > 1 and len(a) > 1:
            with ThreadPoolExecutor(threads) as pool:
                list(pool.map(run, range(len(bounds) - 1)))
        else:
            run(0)
        out[side] = (g, e)
    return out


def rank_metrics(ranks: np.ndarray, ks=(1, 3, 10)) -> dict:
    """MRR, MR and Hits@k of realistic ranks (float, 1-based); Hits@k counts rank <= k."""
    ranks = np.asarray(ranks, dtype=np.float64)
    if ranks.size == 0:
        return {"mrr": float("nan"), "mr": float("nan"), **{f"hits@{k}": float("nan") for k in ks}, "count": 0}
    out = {"mrr": float(np.mean(1.0 / ranks)), "mr": float(np.mean(ranks))}
    for k in ks:
        out[f"hits@{k}"] = float(np.mean(ranks <= k))
    out["count"] = int(ranks.size)
    return out


# --------------------------------------------------------------------------- model

class KGModel:
    """A knowledge-graph embedding model trained with negative sampling (module docstring).

    ``dim`` is the embedding dimension in the model's own numbers: real components for TransE
    and DistMult, complex components for ComplEx and RotatE (each stored as 2 * dim floats;
    RotatE relations are dim phases), as in PyKEEN.

    >>> model = KGModel("rotate", dim=200, negative=64, corruption="bernoulli", filtered=True).fit(data.train)
    >>> model.evaluate(data.test, known=data.all_triples())["both"]["mrr"]
    """

    def __init__(self, model="rotate", dim=100, negative=32, negatives=None, noise="uniform", ns_exponent=0.75,
                 corruption="uniform", filtered=False, loss=None, margin=None, adversarial_temperature=None,
                 p_norm=None, normalize_entities=None, optimizer="adam", lr=1e-3, reg=0.0, batch_size=256,
                 epochs=50, threads=2, seed=1, init_scale=1.0, parallel="auto"):
        if model not in MODELS:
            raise NegsampleError(f"model must be one of {', '.join(MODELS)}, got {model!r}")
        self.model = model
        d = MODEL_DEFAULTS[model]
        self.dim = check_positive_int("dim", dim)
        if isinstance(negatives, NegativeSampler):
            self.sampler = negatives
            if negatives.known_positives is not None or negatives.times is not None or negatives.labels is not None:
                raise NegsampleError("the KG trainer builds the known-triple filter itself (filtered=True); "
                                     "pass a sampler without known_positives, times or labels")
        else:
            if negatives not in (None, "per-example", "shared"):
                raise NegsampleError(f"negatives must be 'per-example', 'shared' or a NegativeSampler, got {negatives!r}")
            self.sampler = NegativeSampler(negative=negative, noise=noise, ns_exponent=ns_exponent,
                                           mode=negatives or "per-example")
        if self.sampler.mode not in ("per-example", "shared"):
            raise NegsampleError(f"the KG trainer supports per-example or shared negatives, not {self.sampler.mode!r}")
        if self.sampler.candidates is not None or self.sampler.generator is not None:
            raise NegsampleError("dynamic and generator negatives are available for SGNS and recsys, not the KG "
                                 "trainer; use adversarial_temperature= (self-adversarial weights)")
        if self.sampler.adversarial_temperature is not None:     # the sampler's self-adversarial weights
            if adversarial_temperature is not None and adversarial_temperature != self.sampler.adversarial_temperature:
                raise NegsampleError("adversarial_temperature is given twice with different values (model and sampler)")
            adversarial_temperature = self.sampler.adversarial_temperature
        self.negative = self.sampler.negative
        if corruption not in CORRUPTIONS:
            raise NegsampleError(f"corruption must be one of {', '.join(CORRUPTIONS)}, got {corruption!r}")
        self.corruption = corruption
        self.filtered = bool(filtered)
        self.loss = d["loss"] if loss is None else loss
        if self.loss not in LOSSES:
            raise NegsampleError(f"loss must be one of {', '.join(LOSSES)}, got {self.loss!r}")
        self.margin = check_finite_float("margin", d["margin"] if margin is None else margin)
        self.adversarial_temperature = check_finite_float(
            "adversarial_temperature", d["adversarial_temperature"] if adversarial_temperature is None
            else adversarial_temperature, minimum=0.0)
        self.p_norm = int(d["p_norm"] if p_norm is None else p_norm)
        if self.p_norm not in (1, 2):
            raise NegsampleError(f"p_norm must be 1 or 2, got {p_norm!r}")
        self.normalize_entities = bool(d["normalize_entities"] if normalize_entities is None else normalize_entities)
        if optimizer not in OPTIMIZERS:
            raise NegsampleError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {optimizer!r}")
        self.optimizer = optimizer
        self.lr = check_finite_float("lr", lr, minimum=0.0, strict_min=True)
        self.reg = check_finite_float("reg", reg, minimum=0.0)
        self.batch_size = check_positive_int("batch_size", batch_size)
        self.epochs = check_positive_int("epochs", epochs, minimum=0)
        self.threads = check_positive_int("threads", threads)
        self.seed = check_positive_int("seed", seed, minimum=0)
        self.init_scale = check_finite_float("init_scale", init_scale, minimum=0.0, strict_min=True)
        if parallel not in PARALLEL:
            raise NegsampleError(f"parallel must be one of {', '.join(PARALLEL)}, got {parallel!r}")
        self.parallel = parallel
        self.entity_ = self.relation_ = None
        self.entities = self.relations = None
        self.p_head_ = None
        self.stats_ = {}

    # ------------------------------------------------------------------ shapes
    @property
    def model_code(self):
        from .kernels.kg import COMPLEX, DISTMULT, ROTATE, TRANSE

        return {"transe": TRANSE, "distmult": DISTMULT, "complex": COMPLEX, "rotate": ROTATE}[self.model]

    def _widths(self):
        de = 2 * self.dim if self.model in ("complex", "rotate") else self.dim
        dr = self.dim if self.model in ("transe", "distmult", "rotate") else 2 * self.dim
        return de, dr

    @property
    def n_entities(self):
        return 0 if self.entity_ is None else self.entity_.shape[0]

    @property
    def n_relations(self):
        return 0 if self.relation_ is None else self.relation_.shape[0]

    def _init_params(self, n_ent, n_rel, rng):
        de, dr = self._widths()
        bound = self.init_scale * np.sqrt(6.0 / de)
        E = rng.uniform(-bound, bound, (n_ent, de)).astype(np.float32)
        if self.model == "rotate":
            R = rng.uniform(-np.pi, np.pi, (n_rel, dr)).astype(np.float32)
        else:
            rb = self.init_scale * np.sqrt(6.0 / dr)
            R = rng.uniform(-rb, rb, (n_rel, dr)).astype(np.float32)
        if self.normalize_entities:
            E /= np.maximum(np.linalg.norm(E, axis=1, keepdims=True), 1e-12)
        return E, R

    def _prepare_noise(self, a, n_ent, n_rel):
        """Side probabilities (``p_head_``) and the core's noise and filters for triples ``a``:
        (prob, alias, tail filter tuple, head filter tuple); fits ``self.sampler``."""
        self.p_head_ = (bernoulli_head_prob(a, n_rel) if self.corruption == "bernoulli" else np.full(n_rel, 0.5))
        counts = entity_counts(a, n_ent)
        if self.filtered:
            n_rows = n_ent * n_rel
            s_tail = self.sampler.copy(known_positives=known_csr(a, n_ent, n_rel, "tail")).fit(counts, n_rows=n_rows)
            s_head = self.sampler.copy(known_positives=known_csr(a, n_ent, n_rel, "head")).fit(counts, n_rows=n_rows)
        else:
            s_tail = s_head = self.sampler.copy().fit(counts)
        self.sampler.fit(counts)  # the user's sampler: the resolved noise, and the filter stats of the run
        prob, alias, filt_t = s_tail.kernel_noise()
        return prob, alias, filt_t, s_head.kernel_noise()[2]

    def corrupt(self, triples, n_entities=None, n_relations=None, seed=0):
        """The corruptions the trainer draws (same kernels, same noise and filters) for
        ``triples`` (n, 3) in their order, in blocks of ``batch_size``: (side (n,) 0 = tail
        corrupted / 1 = head, negatives (n, negative) entity ids, -1 where dropped). Records the
        filter counts in ``sampler.stats_``. For inspection and tests; ``fit`` does not call it."""
        from .kernels.kg import corrupt_chunk
        from .kernels.noise import N_FILTER_COUNTS

        a = _as_triples(triples, n_entities, n_relations)
        n_ent = int(n_entities if n_entities is not None else max(a[:, 0].max(), a[:, 2].max()) + 1)
        n_rel = int(n_relations if n_relations is not None else a[:, 1].max() + 1)
        trained_p_head, trained_sampler = getattr(self, "p_head_", None), self.sampler
        self.sampler = self.sampler.copy()          # inspection must not change the trained model
        try:
            prob, alias, filt_t, filt_h = self._prepare_noise(a, n_ent, n_rel)
            p_head = self.p_head_
        finally:
            self.p_head_, self.sampler = trained_p_head, trained_sampler
        n = len(a)
        side = np.empty(n, np.int64)
        negs = np.empty((n, self.negative), np.int64)
        counts = np.zeros(N_FILTER_COUNTS, np.int64)
        corrupt_chunk(*(np.ascontiguousarray(a[:, i]) for i in range(3)), np.arange(n, dtype=np.int64), 0, n,
                      self.batch_size, n_rel, p_head, prob, alias, filt_t, filt_h, self.negative,
                      self.sampler.mode == "shared", np.uint64(seed), side, negs, counts)
        self.sampler.record(counts, negs.size)
        return side, negs

    # ------------------------------------------------------------------ training
    def fit(self, triples, n_entities=None, n_relations=None, entities=None, relations=None, progress=False,
            callback=None):
        """Train on ``triples``: a KGData (its train split and names are used) or an (n, 3) int
        array of (head, relation, tail) ids with ``n_entities`` / ``n_relations`` (default: max id
        + 1). ``callback(model, epoch)`` runs after each epoch. Returns self."""
        from .kernels.kg import ADAGRAD, ADAM, LAZY_ADAM, MARGIN, NSSA, SGD, adam_catch_up, adam_scale, train_chunk
        from .kernels.noise import N_FILTER_COUNTS, stream_seed

        if isinstance(triples, KGData):
            entities, relations = triples.entities, triples.relations
            n_entities, n_relations = triples.n_entities, triples.n_relations
            triples = triples.train
        a = _as_triples(triples, n_entities, n_relations, name="training triples")
        if len(a) == 0:
            raise NegsampleError("no training triples")
        n_ent = int(n_entities if n_entities is not None else max(a[:, 0].max(), a[:, 2].max()) + 1)
        n_rel = int(n_relations if n_relations is not None else a[:, 1].max() + 1)
        if n_ent < 2:
            raise NegsampleError("a knowledge graph needs at least 2 entities to corrupt triples")
        if entities is not None and len(entities) != n_ent:
            raise NegsampleError(f"{len(entities)} entity names for {n_ent} entities")
        if relations is not None and len(relations) != n_rel:
            raise NegsampleError(f"{len(relations)} relation names for {n_rel} relations")
        self.entities = list(entities) if entities is not None else [str(i) for i in range(n_ent)]
        self.relations = list(relations) if relations is not None else [str(i) for i in range(n_rel)]
        rng = as_rng(self.seed)
        E, R = self._init_params(n_ent, n_rel, rng)
        de, dr = self._widths()
        opt = {"sgd": SGD, "adagrad": ADAGRAD, "adam": ADAM, "lazy_adam": LAZY_ADAM}[self.optimizer]
        adam = opt in (ADAM, LAZY_ADAM)
        EM = np.zeros((n_ent, de) if adam else (0, de), np.float32)
        RM = np.zeros((n_rel, dr) if adam else (0, dr), np.float32)
        EV = np.zeros((n_ent, de) if opt != SGD else (0, de), np.float32)
        RV = np.zeros((n_rel, dr) if opt != SGD else (0, dr), np.float32)
        ET = np.zeros(n_ent if adam else 0, np.int64)
        RT = np.zeros(n_rel if adam else 0, np.int64)

        prob, alias, filt_t, filt_h = self._prepare_noise(a, n_ent, n_rel)
        heads, rels, tails = (np.ascontiguousarray(a[:, i]) for i in range(3))
        n = len(a)
        sync = self.parallel == "sync" or (self.parallel == "auto" and self.threads > 1
                                            and self.batch_size * (self.negative + 2) >= n_ent)
        if sync:   # every block is one step of all threads together
            threads = min(self.threads, self.batch_size)
            blocks = -(-n // self.batch_size)
            steps_per_epoch = blocks
        else:      # Hogwild: block b of each thread in epoch e is round e * B + b, one step per thread
            threads = min(self.threads, max(1, n // self.batch_size))
            bounds = _split(n, threads)
            rounds_per_epoch = max(-(-(int(bounds[i + 1] - bounds[i])) // self.batch_size) for i in range(threads))
            steps_per_epoch = rounds_per_epoch * threads
        beta1, beta2, eps = 0.9, 0.999, 1e-8
        scale = adam_scale(self.lr, beta1, beta2, eps, self.epochs * steps_per_epoch if opt == ADAM else 0)
        shared = self.sampler.mode == "shared"
        loss = NSSA if self.loss == "nssa" else MARGIN
        self.entity_, self.relation_ = E, R
        bar = Progress(self.epochs, unit="epochs", desc=f"kg {self.model}", enabled=progress)
        t0 = time.perf_counter()
        losses = []
        pool = ThreadPoolExecutor(threads) if threads > 1 else None
        work = None
        if sync:   # per-thread dense gradient tables, identity slot maps, row ranges of the apply phase
            work = {"GE": np.zeros((threads, n_ent, de), np.float32), "GR": np.zeros((threads, n_rel, dr), np.float32),
                    "ident_e": np.arange(n_ent, dtype=np.int64), "ident_r": np.arange(n_rel, dtype=np.int64),
                    "ebounds": _split(n_ent, threads), "rbounds": _split(n_rel, threads)}
        try:
            for epoch in range(self.epochs):
                order = rng.permutation(n).astype(np.int64)
                fcounts = [np.zeros(N_FILTER_COUNTS, np.int64) for _ in range(threads)]
                st = [np.zeros(4) for _ in range(threads)]

                ok = True
                if sync:
                    ok = self._sync_epoch(pool, threads, blocks, epoch, order, heads, rels, tails, E, R, EM, EV, ET,
                                          RM, RV, RT, opt, beta1, beta2, eps, scale, loss, prob, alias, filt_t, filt_h,
                                          shared, fcounts, st, work)
                else:
                    def run(i):
                        train_chunk(self.model_code, self.p_norm, loss, self.margin, self.adversarial_temperature, E,
                                    R, EM, EV, ET, RM, RV, RT, opt, self.lr, beta1, beta2, eps, self.reg,
                                    self.normalize_entities, heads, rels, tails, order, bounds[i], bounds[i + 1],
                                    self.p_head_, prob, alias, filt_t, filt_h, self.negative, shared, self.batch_size,
                                    np.uint64(stream_seed(self.seed, epoch, i)), fcounts[i], st[i],
                                    epoch * rounds_per_epoch, threads, scale)

                    if pool is None:
                        run(0)
                    else:
                        list(pool.map(run, range(threads)))
                if opt == ADAM and not sync:  # every row current to the epoch's last step, as dense Adam leaves it
                    t_end = (epoch + 1) * steps_per_epoch
                    adam_catch_up(E, EM, EV, ET, t_end, scale, beta1, beta2, eps, self.normalize_entities)
                    adam_catch_up(R, RM, RV, RT, t_end, scale, beta1, beta2, eps, False)
                tot = np.sum(st, axis=0)
                self.sampler.record(np.sum(fcounts, axis=0), int(tot[1]) * self.negative)
                if not ok or tot[3] or not (np.isfinite(E).all() and np.isfinite(R).all()):
                    raise NegsampleError(f"training diverged in epoch {epoch + 1} (non-finite loss or weights); "
                                         "lower lr or margin")
                losses.append(float(tot[0] / max(tot[1], 1)))
                bar.update(epoch + 1, loss=losses[-1])
                if callback is not None:
                    callback(self, epoch)
        finally:
            if pool is not None:
                pool.shutdown()
        bar.close()
        seconds = time.perf_counter() - t0
        self.stats_ = {"train_seconds": seconds, "epoch_losses": losses, "triples": n,
                       "triples_per_second": n * self.epochs / seconds if seconds > 0 else float("nan"),
                       "threads": threads, "parallel": "sync" if sync else "hogwild",
                       "filter": self.sampler.stats_.as_dict()}
        return self

    def _sync_epoch(self, pool, threads, blocks, epoch, order, heads, rels, tails, E, R, EM, EV, ET, RM, RV, RT, opt,
                    beta1, beta2, eps, scale, loss, prob, alias, filt_t, filt_h, shared, fcounts, st, work):
        """One epoch in synchronous mode: per block, the threads compute the gradients of their
        share of its positives into their own tables, then apply the summed gradient (one
        optimizer step) to their share of the rows. Returns False if the loss went non-finite."""
        from .kernels.kg import apply_part, grad_part
        from .kernels.noise import stream_seed

        n = len(order)
        seed = np.uint64(stream_seed(self.seed, epoch, 0))
        GE, GR = work["GE"], work["GR"]
        eb, rb = work["ebounds"], work["rbounds"]
        for b in range(blocks):
            b0 = b * self.batch_size
            B = min(self.batch_size, n - b0)
            parts = _split(B, threads)
            t = epoch * blocks + b

            def grads(i):
                return grad_part(self.model_code, self.p_norm, loss, self.margin, self.adversarial_temperature, E, R,
                                 self.reg, heads, rels, tails, order, b0, B, parts[i], parts[i + 1], self.p_head_,
                                 prob, alias, filt_t, filt_h, self.negative, shared, seed, b,
                                 fcounts[i] if i == 0 else np.zeros_like(fcounts[i]), st[i], GE[i], GR[i],
                                 work["ident_e"], work["ident_r"])

            def apply(i):
                apply_part(E, EM, EV, ET, GE, eb[i], eb[i + 1], opt, self.lr, beta1, beta2, eps, t, scale,
                           self.normalize_entities)
                apply_part(R, RM, RV, RT, GR, rb[i], rb[i + 1], opt, self.lr, beta1, beta2, eps, t, scale, False)

            finite = list(pool.map(grads, range(threads))) if pool is not None else [grads(0)]
            if not all(finite):
                return False
            if pool is not None:
                list(pool.map(apply, range(threads)))
            else:
                apply(0)
        return True

    # ------------------------------------------------------------------ scoring
    def _fitted(self):
        if self.entity_ is None:
            raise NegsampleError("the model is not trained: call fit() or load()")

    def score(self, triples) -> np.ndarray:
        """f(h, r, t) of (n, 3) id triples, float32 (higher = more plausible)."""
        from .kernels.kg import score_triples

        self._fitted()
        a = _as_triples(triples, self.n_entities, self.n_relations)
        out = np.empty(len(a), np.float32)
        score_triples(self.model_code, self.p_norm, self.entity_, self.relation_, np.ascontiguousarray(a[:, 0]),
                      np.ascontiguousarray(a[:, 1]), np.ascontiguousarray(a[:, 2]), out)
        return out

    def evaluate(self, triples, known=None, filtered=True, threads=None, per_relation=True) -> dict:
        """Filtered link prediction (module docstring). ``triples`` (n, 3) ids; ``known``: every
        true triple to filter out (train + valid + test; default: ``triples`` only). Returns
        {"head": metrics, "tail": metrics, "both": metrics, "per_relation": {name: both-metrics},
        "ranks": {"head": realistic (n,), "tail": ...}} with metrics = mrr, mr, hits@1/3/10."""
        self._fitted()
        a = _as_triples(triples, self.n_entities, self.n_relations, name="evaluation triples")
        if filtered:
            kn = a if known is None else np.concatenate([_as_triples(known, self.n_entities, self.n_relations,
                                                                     name="known triples"), a])
        else:
            kn = None
        t0 = time.perf_counter()
        raw = rank_triples(self.model_code, self.p_norm, self.entity_, self.relation_, a, kn,
                           threads=self.threads if threads is None else threads)
        ranks = {s: g + 1.0 + e / 2.0 for s, (g, e) in raw.items()}
        both = np.concatenate([ranks["head"], ranks["tail"]])
        out = {"head": rank_metrics(ranks["head"]), "tail": rank_metrics(ranks["tail"]), "both": rank_metrics(both),
               "optimistic_mrr": float(np.mean(1.0 / (np.concatenate([raw["head"][0], raw["tail"][0]]) + 1.0)))
               if len(a) else float("nan"),
               "filtered": bool(filtered), "triples": int(len(a)), "seconds": time.perf_counter() - t0}
        if per_relation:
            rel = np.concatenate([a[:, 1], a[:, 1]])
            out["per_relation"] = {self.relations[r]: rank_metrics(both[rel == r]) for r in np.unique(a[:, 1])}
        out["ranks"] = ranks
        return out

    def predict(self, relation, head=None, tail=None, topn=10, exclude=None):
        """Top-``topn`` completions of (head, relation, ?) (give ``head``) or (?, relation, tail) (give
        ``tail``), by name or id; ``exclude``: known triples (n, 3) whose answers are left out.
        Returns [(entity name, score), ...]."""
        from .kernels.kg import HEAD, TAIL, score_all

        self._fitted()
        if (head is None) == (tail is None):
            raise NegsampleError("give exactly one of head and tail")
        r = self._lookup(relation, self.relations, "relation")
        side, a = (TAIL, self._lookup(head, self.entities, "entity")) if head is not None else \
            (HEAD, self._lookup(tail, self.entities, "entity"))
        k = check_positive_int("topn", topn)
        s = np.empty(self.n_entities, np.float32)
        score_all(self.model_code, self.p_norm, self.entity_, self.relation_, a, r, side, s)
        s = s.astype(np.float64)
        if exclude is not None:
            ex = _as_triples(exclude, self.n_entities, self.n_relations)
            if side == TAIL:
                s[ex[(ex[:, 0] == a) & (ex[:, 1] == r), 2]] = -np.inf
            else:
                s[ex[(ex[:, 2] == a) & (ex[:, 1] == r), 0]] = -np.inf
        top = np.argsort(-s, kind="stable")[:k]
        return [(self.entities[i], float(s[i])) for i in top if np.isfinite(s[i])]

    @staticmethod
    def _lookup(x, names, what):
        if isinstance(x, (int, np.integer)) and not isinstance(x, bool):
            if 0 <= int(x) < len(names):
                return int(x)
            raise NegsampleError(f"{what} id {x} out of range [0, {len(names)})")
        try:
            return names.index(str(x))
        except ValueError:
            raise NegsampleError(f"unknown {what} {x!r}") from None

    def map_triples(self, rows):
        """String triples -> ((n, 3) ids, number dropped) with this model's names."""
        self._fitted()
        return map_triples(rows, {e: i for i, e in enumerate(self.entities)},
                           {r: i for i, r in enumerate(self.relations)})

    # ------------------------------------------------------------------ persistence
    def params(self) -> dict:
        return {"model": self.model, "dim": self.dim, "negative": self.negative, "noise": self.sampler.noise
                if isinstance(self.sampler.noise, str) else "custom", "ns_exponent": self.sampler.ns_exponent,
                "negatives": self.sampler.mode, "corruption": self.corruption, "filtered": self.filtered,
                "loss": self.loss, "margin": self.margin, "adversarial_temperature": self.adversarial_temperature,
                "p_norm": self.p_norm, "normalize_entities": self.normalize_entities, "optimizer": self.optimizer,
                "lr": self.lr, "reg": self.reg, "batch_size": self.batch_size, "epochs": self.epochs,
                "threads": self.threads, "seed": self.seed, "init_scale": self.init_scale,
                "parallel": self.parallel}

    def save(self, path, inputs=()):
        """Write the model (negsample archive of kind "kg-model": no pickle)."""
        from . import io

        self._fitted()
        io.save_arrays(path, KIND, {"entity": self.entity_, "relation": self.relation_, "p_head": self.p_head_},
                       meta={"params": self.params(), "stats": {k: v for k, v in self.stats_.items()
                                                                if k != "epoch_losses"}},
                       strings={"entities": self.entities, "relations": self.relations},
                       version=FORMAT_VERSION, inputs=inputs)

    @classmethod
    def load(cls, path) -> "KGModel":
        from . import io

        arrays, strings, meta, _ = io.load_arrays(path, KIND, FORMAT_VERSION, required=("entity", "relation", "p_head"),
                                                  required_strings=("entities", "relations"))
        p = meta.get("params")
        if not isinstance(p, dict) or p.get("model") not in MODELS:
            raise NegsampleError(f"{path}: kg-model file has no valid model parameters")
        noise = p.get("noise", "uniform")
        try:
            m = cls(model=p["model"], dim=p["dim"], negative=p["negative"],
                    noise=noise if noise in ("uniform", "frequency") else "uniform",
                    ns_exponent=p["ns_exponent"], negatives=p["negatives"], corruption=p["corruption"],
                    filtered=p["filtered"], loss=p["loss"], margin=p["margin"],
                    adversarial_temperature=p["adversarial_temperature"], p_norm=p["p_norm"],
                    normalize_entities=p["normalize_entities"], optimizer=p["optimizer"], lr=p["lr"], reg=p["reg"],
                    batch_size=p["batch_size"], epochs=p["epochs"], threads=p["threads"], seed=p["seed"],
                    init_scale=p.get("init_scale", 1.0), parallel=p.get("parallel", "auto"))
        except KeyError as exc:
            raise NegsampleError(f"{path}: kg-model parameters lack {exc.args[0]!r}") from None
        de, dr = m._widths()
        n_ent, n_rel = len(strings["entities"]), len(strings["relations"])
        m.entity_ = np.ascontiguousarray(io.check_array(arrays, "entity", path, np.float32, 2, (n_ent, de), finite=True),
                                         dtype=np.float32)
        m.relation_ = np.ascontiguousarray(io.check_array(arrays, "relation", path, np.float32, 2, (n_rel, dr),
                                                          finite=True), dtype=np.float32)
        m.p_head_ = io.check_array(arrays, "p_head", path, np.float64, 1, (n_rel,), finite=True)
        m.entities, m.relations = strings["entities"], strings["relations"]
        m.stats_ = dict(meta.get("stats") or {})
        return m
