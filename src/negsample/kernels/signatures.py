"""The C interface of every kernel in the native library, written once (declarative table).

Each entry names an allocation-free numba core and its arguments. From this one table come
- the numba ``cfunc`` wrapper compiled into the library (raw pointers + sizes -> ``carray`` views
  -> the core; generated source, see ``cfunc_source``),
- the ctypes ``argtypes`` / ``restype`` of the exported symbol,
- the checks the Python entry makes before calling (dtype, dimensions, C order, writeable
  outputs, and every array that shares a size symbol having that size).

The C signature of ``negsample_<name>`` is: one int64 per size symbol (in order of first use),
then one argument per entry of ``args``: a pointer for an array, the value for a scalar. An
``FILTER`` argument expands to the six members of the noise core's filter tuple
(``negsample.kernels.noise``) and reaches the core as that tuple.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_DTYPES = {"f32": np.float32, "f64": np.float64, "i32": np.int32, "i64": np.int64, "u64": np.uint64,
           "u8": np.uint8}


@dataclass(frozen=True)
class Arr:
    """An array argument: dtype code, shape as size symbols, written by the kernel or not."""
    name: str
    dtype: str
    shape: tuple
    out: bool = False


@dataclass(frozen=True)
class Scalar:
    name: str
    dtype: str  # i64, u64 or f64


FILTER_MEMBERS = (Arr("kp_indptr", "i64", ("n_kp_rows",)), Arr("kp_indices", "i64", ("n_kp",)),
                  Arr("times", "f64", ("n_times",)), Arr("labels", "i64", ("n_labels",)),
                  Scalar("delta", "f64"), Scalar("max_redraw", "i64"))


@dataclass(frozen=True)
class Filter:
    """The noise core's filter tuple (kp_indptr, kp_indices, times, labels, delta, max_redraw)."""
    name: str = "filt"


@dataclass(frozen=True)
class Kernel:
    module: str          # module of negsample.kernels holding the core
    core: str            # the allocation-free numba function
    args: tuple
    ret: str = "u64"     # u64, i64 or "void" (the wrapper returns 0 as int64)


_SGNS_COMMON = (
    Arr("W_in", "f32", ("V", "d"), out=True), Arr("W_out", "f32", ("V", "d"), out=True),
    Arr("ids", "i32", ("n_ids",)), Arr("offsets", "i64", ("n_offsets",)),
    Scalar("s_begin", "i64"), Scalar("s_end", "i64"), Arr("keep", "f32", ("V",)),
    Arr("prob", "f64", ("n_noise",)), Arr("alias", "i64", ("n_noise",)), Filter(),
    Scalar("window", "i64"), Scalar("negative", "i64"), Scalar("lr", "f64"), Scalar("seed", "u64"),
    Arr("stats", "f64", ("n_stats",), out=True), Arr("buf", "i32", ("n_buf",), out=True),
)

KERNELS = {
    "sgns_shared": Kernel("sgns", "sgns_shared_core", _SGNS_COMMON + (
        Arr("ctx", "i32", ("max_batch",), out=True), Arr("tgt", "i32", ("T",), out=True),
        Arr("valid", "f32", ("T",), out=True), Arr("U", "f32", ("T", "d"), out=True),
        Arr("dU", "f32", ("T", "d"), out=True), Arr("acc", "f32", ("d",), out=True),
        Arr("v", "f32", ("d",), out=True), Arr("gs", "f32", ("T",), out=True))),
    "sgns_block": Kernel("sgns", "sgns_block_core", _SGNS_COMMON + (
        Scalar("block", "i64"), Scalar("block_negatives", "i64"), Scalar("prefetch", "i64"),
        Arr("lo_", "i64", ("n_plan",), out=True), Arr("hi_", "i64", ("n_plan",), out=True),
        Arr("inp", "i64", ("n_inp",), out=True), Arr("inw", "i64", ("n_inp",), out=True),
        Arr("tgt", "i32", ("n_tgt",), out=True), Arr("valid", "f32", ("n_tgt",), out=True),
        Arr("U", "f32", ("TG", "d"), out=True), Arr("V", "f32", ("NI", "d"), out=True),
        Arr("G", "f32", ("NI", "TG"), out=True))),
    "sgns_per_example": Kernel("sgns", "sgns_per_example_core", _SGNS_COMMON + (
        Arr("neu1e", "f32", ("d",), out=True),)),
    "cbow": Kernel("sgns", "cbow_core", _SGNS_COMMON + (
        Arr("h", "f32", ("d",), out=True), Arr("neu1e", "f32", ("d",), out=True))),
    "vose": Kernel("alias", "vose_core", (
        Arr("p", "f64", ("n",)), Arr("prob", "f64", ("n",), out=True), Arr("alias", "i64", ("n",), out=True),
        Arr("scaled", "f64", ("n",), out=True), Arr("small", "i64", ("n",), out=True),
        Arr("large", "i64", ("n",), out=True)), ret="void"),
    # corpus preparation (negsample.corpus): a64 and a8 are the same arena as words and bytes
    "corpus_scan": Kernel("corpus", "scan_core", (
        Arr("buf", "u8", ("n_buf",)), Scalar("n", "i64"), Scalar("final", "i64"),
        Arr("state", "i64", ("n_state",), out=True), Arr("slots", "i64", ("n_slots",), out=True),
        Arr("a64", "i64", ("n_words",), out=True), Arr("a8", "u8", ("n_bytes",), out=True),
        Arr("rec", "i64", ("n_rec",), out=True), Arr("tok", "u8", ("n_tok",), out=True),
        Arr("out_ids", "i32", ("n_out",), out=True), Arr("out_lens", "i64", ("n_lens",), out=True),
        Arr("bst", "i64", ("B",), out=True), Arr("blen", "i64", ("B",), out=True),
        Arr("bh", "u64", ("B",), out=True)), ret="i64"),
    "corpus_last_break": Kernel("corpus", "last_break", (Arr("buf", "u8", ("n_buf",)), Scalar("n", "i64")),
                                ret="i64"),
    "corpus_rehash": Kernel("corpus", "rehash_core", (
        Arr("slots", "i64", ("n_slots",), out=True), Arr("a64", "i64", ("n_words",)), Arr("a8", "u8", ("n_bytes",)),
        Arr("rec", "i64", ("n_rec",)), Scalar("n_ent", "i64")), ret="i64"),
    "corpus_prune": Kernel("corpus", "prune_core", (
        Scalar("min_reduce", "i64"), Arr("state", "i64", ("n_state",), out=True),
        Arr("slots", "i64", ("n_slots",), out=True), Arr("a64", "i64", ("n_words",), out=True),
        Arr("a8", "u8", ("n_bytes",), out=True), Arr("rec", "i64", ("n_rec",), out=True)), ret="i64"),
    "corpus_counts": Kernel("corpus", "counts_core", (
        Arr("a64", "i64", ("n_words",)), Arr("rec", "i64", ("n_rec",)), Scalar("n_ent", "i64"),
        Arr("counts", "i64", ("n_counts",), out=True), Arr("lengths", "i64", ("n_counts",), out=True)), ret="i64"),
    "corpus_gather": Kernel("corpus", "gather_core", (
        Arr("a8", "u8", ("n_bytes",)), Arr("a64", "i64", ("n_words",)), Arr("rec", "i64", ("n_rec",)),
        Arr("entries", "i64", ("n_entries",)), Arr("out", "u8", ("n_out",), out=True)), ret="i64"),
    "corpus_set_ids": Kernel("corpus", "set_ids_core", (
        Arr("a64", "i64", ("n_words",), out=True), Arr("rec", "i64", ("n_rec",)), Scalar("n_ent", "i64"),
        Arr("to_final", "i32", ("n_map",))), ret="i64"),
    "corpus_remap": Kernel("corpus", "remap_core", (
        Arr("ids", "i32", ("n_ids",), out=True), Scalar("n", "i64"), Arr("lens", "i64", ("n_lens",)),
        Scalar("n_lens_used", "i64"), Arr("to_final", "i32", ("n_map",)), Arr("rstate", "i64", ("n_rstate",), out=True),
        Arr("offsets", "i64", ("n_offsets",), out=True)), ret="i64"),
}


def flat_args(kernel: Kernel):
    """The arguments with FILTER expanded to its members."""
    out = []
    for a in kernel.args:
        out.extend(FILTER_MEMBERS if isinstance(a, Filter) else (a,))
    return out


def size_symbols(kernel: Kernel) -> list:
    syms = []
    for a in flat_args(kernel):
        if isinstance(a, Arr):
            for s in a.shape:
                if s not in syms:
                    syms.append(s)
    return syms


def symbol(name: str) -> str:
    return "negsample_" + name


# --------------------------------------------------------------------------- numba side (build)

def cfunc_source(name: str, kernel: Kernel) -> str:
    """Python source of the cfunc wrapper: sizes and pointers in, carray views to the core."""
    syms = size_symbols(kernel)
    params = list(syms) + [a.name + ("_p" if isinstance(a, Arr) else "") for a in flat_args(kernel)]

    def view(a):
        return f"carray({a.name}_p, ({', '.join(a.shape)},))"

    call = []
    for a in kernel.args:
        if isinstance(a, Filter):
            members = [view(m) if isinstance(m, Arr) else m.name for m in FILTER_MEMBERS]
            call.append("(" + ", ".join(members) + ")")
        elif isinstance(a, Arr):
            call.append(view(a))
        else:
            call.append(a.name)
    body = f"core({', '.join(call)})"
    lines = [f"def {name}_c({', '.join(params)}):"]
    lines.append(f"    {body}\n    return 0" if kernel.ret == "void" else f"    return {body}")
    return "\n".join(lines) + "\n"


def cfunc_signature(kernel: Kernel):
    from numba import types as t

    scalar = {"i64": t.int64, "u64": t.uint64, "f64": t.float64}
    pointer = {k: t.CPointer(getattr(t, np.dtype(v).name)) for k, v in _DTYPES.items()}
    args = [t.int64] * len(size_symbols(kernel))
    for a in flat_args(kernel):
        args.append(pointer[a.dtype] if isinstance(a, Arr) else scalar[a.dtype])
    ret = t.int64 if kernel.ret == "void" else scalar[kernel.ret]
    return ret(*args)


# --------------------------------------------------------------------------- ctypes side (load)

def ctypes_types(kernel: Kernel):
    import ctypes

    scalar = {"i64": ctypes.c_int64, "u64": ctypes.c_uint64, "f64": ctypes.c_double}
    argtypes = [ctypes.c_int64] * len(size_symbols(kernel))
    for a in flat_args(kernel):
        argtypes.append(ctypes.c_void_p if isinstance(a, Arr) else scalar[a.dtype])
    restype = ctypes.c_int64 if kernel.ret == "void" else scalar[kernel.ret]
    return argtypes, restype


def pack_arguments(name: str, kernel: Kernel, values: dict, error):
    """Check ``values`` (argument name -> array / scalar; the filter as its tuple) against the
    table and return the flat C argument list. ``error(msg)`` raises."""
    flat = {}
    for a in kernel.args:
        if isinstance(a, Filter):
            filt = values[a.name]
            if not isinstance(filt, tuple) or len(filt) != len(FILTER_MEMBERS):
                error(f"{name}: the filter must be the noise core's 6-tuple")
            for m, v in zip(FILTER_MEMBERS, filt):
                flat[m.name] = v
        else:
            flat[a.name] = values[a.name]
    sizes: dict = {}
    out = []
    for a in flat_args(kernel):
        v = flat[a.name]
        if isinstance(a, Arr):
            dt = _DTYPES[a.dtype]
            if not isinstance(v, np.ndarray) or v.dtype != dt or v.ndim != len(a.shape) \
                    or not v.flags.c_contiguous or (a.out and not v.flags.writeable):
                what = "a writeable " if a.out else "a "
                error(f"{a.name} must be {what}C-contiguous {np.dtype(dt).name} array with {len(a.shape)} "
                      f"dimension(s)" + (" (it is updated in place)" if a.out else ""))
            for sym, extent in zip(a.shape, v.shape):
                if sizes.setdefault(sym, extent) != extent:
                    error(f"{name}: {a.name} has {sym} = {extent}, other arguments have {sizes[sym]}")
            out.append(v)
        else:
            out.append(v)
    syms = size_symbols(kernel)
    return [int(sizes[s]) for s in syms] + [
        (v.ctypes.data if isinstance(v, np.ndarray) else
         (float(v) if a.dtype == "f64" else int(v) & 0xFFFFFFFFFFFFFFFF if a.dtype == "u64" else int(v)))
        for a, v in zip(flat_args(kernel), out)]
