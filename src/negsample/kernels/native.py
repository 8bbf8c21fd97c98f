"""The SGNS and alias-build kernels as a native shared library, called through ctypes.

Why: a process that imports numba maps LLVM (``libllvmlite.so``, about 90 MB resident) and every
JIT-loaded kernel adds more (about 45 MB for the SGNS kernels, even from numba's cache). Word2vec
training needs only a few loops, so their numba source (``sgns.sgns_shared_core``,
``sgns.sgns_per_example_core``, ``sgns.cbow_core``, ``alias.vose_core``; allocation-free by design) is compiled once
per machine, ahead of time, into ``kernels-<key>.so``:

    numba ``cfunc`` wrappers (raw pointers + sizes -> ``carray`` views -> the cores)
    -> one LLVM module -> host-CPU object code (the same optimised IR the JIT would run)
    -> ``cc -shared`` -> the cache directory (written to a temporary name, then renamed).

The build runs in a child process (``python -m negsample.kernels.native build``), so the
training process loads only the small library; ctypes releases the GIL during each call, so
Python threads run the kernels in parallel (Hogwild) exactly as with the numba JIT.

The key hashes the kernel sources, the numba/llvmlite/Python versions and the CPU (model and
flags from /proc/cpuinfo), so a changed kernel or another CPU gets its own library. Backend
choice: ``NEGSAMPLE_KERNELS=auto`` (default: native when it builds, else the numba JIT with a
one-line note), ``native`` (fail with a clear error if it cannot build) or ``jit``.
Cache directory: ``NEGSAMPLE_CACHE_DIR``, else ``$XDG_CACHE_HOME/negsample``, else
``~/.cache/negsample``. Linux only (elsewhere the JIT runs).
"""
from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading

import numpy as np

from .._common import NegsampleError

_HERE = os.path.dirname(os.path.abspath(__file__))
_SOURCES = ("sgns.py", "alias.py", "native.py")
_SYMBOLS = ("negsample_sgns_shared", "negsample_sgns_per_example", "negsample_cbow", "negsample_vose")
_lock = threading.Lock()
_state: dict = {}          # "lib": CDLL or None, "reason": why not native, "path": library path


# --------------------------------------------------------------------------- where and which

def cache_dir() -> str:
    d = os.environ.get("NEGSAMPLE_CACHE_DIR")
    if not d:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        d = os.path.join(base, "negsample")
    return d


def _mode() -> str:
    m = os.environ.get("NEGSAMPLE_KERNELS", "auto").strip().lower() or "auto"
    if m not in ("auto", "native", "jit"):
        raise NegsampleError(f"NEGSAMPLE_KERNELS must be auto, native or jit, got {m!r}")
    return m


def _version(dist: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return "missing"


def _cpu_signature() -> str:
    """CPU model and feature flags (the object code is compiled for this CPU)."""
    model, flags = "", ""
    with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
        for line in f:
            key, _, val = line.partition(":")
            key = key.strip()
            if key in ("model name", "CPU part", "cpu model") and not model:
                model = val.strip()
            elif key in ("flags", "Features") and not flags:
                flags = " ".join(sorted(val.split()))
            if model and flags:
                break
    return f"{platform.machine()}|{model}|{flags}"


def library_key() -> str:
    h = hashlib.sha256()
    for name in _SOURCES:
        with open(os.path.join(_HERE, name), "rb") as f:
            h.update(f.read())
    h.update(f"numba {_version('numba')} llvmlite {_version('llvmlite')} "
             f"py {sys.version_info[:2]} {_cpu_signature()}".encode())
    return h.hexdigest()[:20]


def library_path() -> str:
    return os.path.join(cache_dir(), f"kernels-{library_key()}.so")


# --------------------------------------------------------------------------- loading

_P = ctypes.c_void_p
_I = ctypes.c_int64


_COMMON = [_P, _P, _I, _I, _P, _I, _P, _I, _I, _I, _P, _P, _P, _I, _I, _I, ctypes.c_double, ctypes.c_uint64,
           _P, _I]   # W_in, W_out, V, d, ids, n, offsets, n, s_begin, s_end, keep, prob, alias, n, window,
#                      negative, lr, seed, stats, sentence buffer length


def _bind(lib):
    for name, args in (("negsample_sgns_shared", [_I] + [_P] * 9),      # max_batch; buf + 8 scratch
                       ("negsample_sgns_per_example", [_P] * 2),         # buf, neu1e
                       ("negsample_cbow", [_P] * 3)):                    # buf, h, neu1e
        f = getattr(lib, name)
        f.argtypes = _COMMON + args
        f.restype = ctypes.c_uint64
    f = lib.negsample_vose
    f.argtypes = [_P, _I, _P, _P, _P, _P, _P]
    f.restype = ctypes.c_int64
    return lib


def _build_in_child(path: str) -> None:
    """Build the library at ``path`` in a child process (it imports numba; we do not)."""
    env = dict(os.environ)
    pkg_root = os.path.dirname(os.path.dirname(_HERE))
    env["PYTHONPATH"] = pkg_root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    sys.stderr.write("negsample: compiling the native kernel library once for this machine "
                     f"(-> {path}) ...\n")
    sys.stderr.flush()
    proc = subprocess.run([sys.executable, "-m", "negsample.kernels.native", "build", path],
                          env=env, capture_output=True, text=True, timeout=900)
    if proc.returncode != 0 or not os.path.exists(path):
        lines = [ln for ln in (proc.stderr or proc.stdout or "").strip().splitlines() if ln.strip()]
        raise NegsampleError("building the native kernel library failed: "
                             + (lines[-1] if lines else f"exit code {proc.returncode}"))


def load():
    """The loaded native library, or None (then the numba JIT kernels run; ``reason()`` says why)."""
    with _lock:
        if "lib" in _state:
            return _state["lib"]
        mode = _mode()
        lib, reason = None, None
        if mode == "jit":
            reason = "NEGSAMPLE_KERNELS=jit"
        elif not sys.platform.startswith("linux"):
            reason = f"native kernels are built on Linux only (this is {sys.platform})"
        else:
            try:
                path = library_path()
                if not os.path.exists(path):
                    _build_locked(path)
                lib = _bind(ctypes.CDLL(path))
                _state["path"] = path
            except (OSError, NegsampleError, subprocess.SubprocessError, AttributeError) as exc:
                reason = f"{exc}"
                lib = None
        if lib is None and mode == "native":
            raise NegsampleError(f"NEGSAMPLE_KERNELS=native but the native kernels are unavailable: {reason}")
        if lib is None and mode == "auto":
            sys.stderr.write(f"negsample: using the numba JIT kernels ({reason})\n")
        _state["lib"], _state["reason"] = lib, reason
        return lib


def _build_locked(path: str) -> None:
    import fcntl

    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path + ".lock", "w") as lockf:
        fcntl.flock(lockf, fcntl.LOCK_EX)          # another process may be building it
        try:
            if not os.path.exists(path):
                _build_in_child(path)
        finally:
            fcntl.flock(lockf, fcntl.LOCK_UN)


def backend() -> str:
    """'native' (ahead-of-time library) or 'numba-jit'."""
    return "native" if load() is not None else "numba-jit"


def reason() -> str | None:
    load()
    return _state.get("reason")


# --------------------------------------------------------------------------- the kernels

def _ptr(a: np.ndarray) -> int:
    return a.ctypes.data


def _in(a, dtype, name):
    a = np.ascontiguousarray(a, dtype=dtype)
    if a.ndim != 1:
        raise NegsampleError(f"{name} must be 1-D, got shape {a.shape}")
    return a


def _out(a, dtype, name, ndim):
    if not (isinstance(a, np.ndarray) and a.dtype == dtype and a.ndim == ndim
            and a.flags.c_contiguous and a.flags.writeable):
        raise NegsampleError(f"{name} must be a writeable C-contiguous {np.dtype(dtype).name} array "
                             f"with {ndim} dimension(s) (it is updated in place)")
    return a


_LINE = 64


def _scratch(*specs):
    """Arrays of the given (shape, dtype) carved from one private allocation, each starting on
    its own 64-byte cache line. Aligned rows keep the vector loads fast; private lines keep two
    threads' small scratch arrays (which numpy's small-block cache may otherwise place side by
    side) from false sharing, which cost up to 30% of the 2-thread throughput."""
    sizes = [int(np.prod(shape)) * np.dtype(dt).itemsize for shape, dt in specs]
    padded = [(n + _LINE - 1) // _LINE * _LINE for n in sizes]
    raw = np.empty(sum(padded) + 2 * _LINE, np.uint8)
    start = (-raw.ctypes.data) % _LINE + _LINE         # one spare line before and after
    out = []
    for (shape, dt), n, pn in zip(specs, sizes, padded):
        out.append(raw[start:start + n].view(dt).reshape(shape))
        start += pn
    return out


def _check_sgns(W_in, W_out, ids, offsets, s_begin, s_end, keep, prob, alias, stats):
    _out(W_in, np.float32, "W_in", 2)
    _out(W_out, np.float32, "W_out", 2)
    _out(stats, np.float64, "stats", 1)
    if W_in.shape != W_out.shape:
        raise NegsampleError(f"W_in {W_in.shape} and W_out {W_out.shape} must have the same shape")
    if stats.shape[0] < 3:
        raise NegsampleError("stats needs 3 entries (pairs, loss sum, loss terms)")
    V = W_in.shape[0]
    ids = _in(ids, np.int32, "ids")
    offsets = _in(offsets, np.int64, "offsets")
    keep = _in(keep, np.float32, "keep")
    prob = _in(prob, np.float64, "prob")
    alias = _in(alias, np.int64, "alias")
    if keep.shape[0] != V:
        raise NegsampleError(f"keep has {keep.shape[0]} entries for a vocabulary of {V}")
    if prob.shape != alias.shape or not 0 < prob.shape[0] <= V:
        raise NegsampleError(f"noise table of {prob.shape[0]} / {alias.shape[0]} entries does not fit a vocabulary of {V}")
    if not 0 <= s_begin <= s_end < offsets.shape[0]:
        raise NegsampleError(f"sentence range [{s_begin}, {s_end}) is outside the {offsets.shape[0] - 1} sentences")
    if s_end > s_begin:
        lo, hi = int(offsets[s_begin]), int(offsets[s_end])
        if lo < 0 or hi > ids.shape[0] or np.any(np.diff(offsets[s_begin:s_end + 1]) < 0):
            raise NegsampleError("offsets are not non-decreasing positions inside ids")
        maxlen = int(np.diff(offsets[s_begin:s_end + 1]).max())
    else:
        maxlen = 0
    return ids, offsets, keep, prob, alias, maxlen


def _call_kernel(name, W_in, W_out, ids, offsets, s_begin, s_end, keep, prob, alias, window, negative, lr,
         seed, stats, scratch, extra=()):
    """Run kernel ``name`` of ``sgns`` natively (validate, carve the scratch, call
    ``negsample_<name>``) or, without the library, through the numba JIT. ``scratch``: the
    (shape, dtype) of each scratch array after the sentence buffer; ``extra``: int arguments."""
    lib = load()
    if lib is None:
        from . import sgns

        return getattr(sgns, name)(W_in, W_out, ids, offsets, s_begin, s_end, keep, prob, alias,
                                   window, negative, lr, seed, stats, *extra)
    s_begin, s_end, window, negative = map(int, (s_begin, s_end, window, negative))
    ids, offsets, keep, prob, alias, maxlen = _check_sgns(W_in, W_out, ids, offsets, s_begin, s_end,
                                                          keep, prob, alias, stats)
    bufs = _scratch(((maxlen + 1,), np.int32), *scratch)
    return int(getattr(lib, f"negsample_{name}")(
        _ptr(W_in), _ptr(W_out), W_in.shape[0], W_in.shape[1], _ptr(ids), ids.shape[0], _ptr(offsets),
        offsets.shape[0], s_begin, s_end, _ptr(keep), _ptr(prob), _ptr(alias), prob.shape[0], window,
        negative, float(lr), int(seed) & 0xFFFFFFFFFFFFFFFF, _ptr(stats), maxlen + 1, *map(int, extra),
        *map(_ptr, bufs)))


def sgns_shared(W_in, W_out, ids, offsets, s_begin, s_end, keep, prob, alias,
                window, negative, lr, seed, stats, max_batch=16):
    """Shared-negatives SGNS (same arguments and result as ``sgns.sgns_shared``), native when
    available, else the numba JIT kernel."""
    d, T = W_in.shape[-1], int(negative) + 1
    scratch = (((int(max_batch),), np.int32), ((T,), np.int32), ((T,), np.float32), ((T, d), np.float32),
               ((T, d), np.float32), ((d,), np.float32), ((d,), np.float32), ((T,), np.float32))
    return _call_kernel("sgns_shared", W_in, W_out, ids, offsets, s_begin, s_end, keep, prob, alias, window,
                negative, lr, seed, stats, scratch, (max_batch,))


def sgns_per_example(W_in, W_out, ids, offsets, s_begin, s_end, keep, prob, alias,
                     window, negative, lr, seed, stats):
    """Per-example SGNS (same arguments and result as ``sgns.sgns_per_example``), native when
    available, else the numba JIT kernel."""
    return _call_kernel("sgns_per_example", W_in, W_out, ids, offsets, s_begin, s_end, keep, prob, alias,
                window, negative, lr, seed, stats, (((W_in.shape[-1],), np.float32),))


def cbow(W_in, W_out, ids, offsets, s_begin, s_end, keep, prob, alias,
         window, negative, lr, seed, stats):
    """CBOW with negative sampling (same arguments and result as ``sgns.cbow``), native when
    available, else the numba JIT kernel."""
    d = W_in.shape[-1]
    return _call_kernel("cbow", W_in, W_out, ids, offsets, s_begin, s_end, keep, prob, alias, window, negative,
                lr, seed, stats, (((d,), np.float32), ((d,), np.float32)))


def sgns_kernel(kind: str, arch: str = "skipgram"):
    """The training kernel: skip-gram with ``kind`` 'shared' or 'per-example' negatives, or CBOW
    (``arch='cbow'``, k negatives per centre word)."""
    if arch == "cbow":
        return cbow
    return sgns_shared if kind == "shared" else sgns_per_example


def build_alias(p: np.ndarray):
    """Vose tables for probabilities p (n,) float64: returns prob (n,) float64, alias (n,) int64."""
    p = np.ascontiguousarray(p, dtype=np.float64)
    lib = load()
    if lib is None:
        from .alias import build_alias_kernel

        return build_alias_kernel(p)
    n = p.shape[0]
    prob = np.empty(n, np.float64)
    alias = np.empty(n, np.int64)
    scaled = np.empty(n, np.float64)
    small = np.empty(n, np.int64)
    large = np.empty(n, np.int64)
    lib.negsample_vose(_ptr(p), n, _ptr(prob), _ptr(alias), _ptr(scaled), _ptr(small), _ptr(large))
    return prob, alias


# --------------------------------------------------------------------------- the build (child process)

def _compile_modules():
    """numba cfunc wrappers around the allocation-free cores; returns [(llvm IR text, symbol, new name)]."""
    from numba import carray, cfunc, types as t

    from .alias import vose_core
    from .sgns import cbow_core, sgns_per_example_core, sgns_shared_core

    f32p, f64p = t.CPointer(t.float32), t.CPointer(t.float64)
    i32p, i64p = t.CPointer(t.int32), t.CPointer(t.int64)
    i64, u64, f64 = t.int64, t.uint64, t.float64

    @cfunc(u64(f32p, f32p, i64, i64, i32p, i64, i64p, i64, i64, i64, f32p, f64p, i64p, i64, i64, i64,
               f64, u64, f64p, i64, i64, i32p, i32p, i32p, f32p, f32p, f32p, f32p, f32p, f32p),
           nopython=True, error_model="numpy")
    def shared_c(win, wout, V, d, idp, n_ids, offp, n_off, s_begin, s_end, keepp, probp, aliasp, n_noise,
                 window, negative, lr, seed, statsp, n_buf, max_batch, bufp, ctxp, tgtp, validp, Up, dUp,
                 accp, vp, gsp):
        T = negative + 1
        return sgns_shared_core(
            carray(win, (V, d)), carray(wout, (V, d)), carray(idp, (n_ids,)), carray(offp, (n_off,)),
            s_begin, s_end, carray(keepp, (V,)), carray(probp, (n_noise,)), carray(aliasp, (n_noise,)),
            window, negative, lr, seed, carray(statsp, (3,)), carray(bufp, (n_buf,)),
            carray(ctxp, (max_batch,)), carray(tgtp, (T,)), carray(validp, (T,)), carray(Up, (T, d)),
            carray(dUp, (T, d)), carray(accp, (d,)), carray(vp, (d,)), carray(gsp, (T,)))

    @cfunc(u64(f32p, f32p, i64, i64, i32p, i64, i64p, i64, i64, i64, f32p, f64p, i64p, i64, i64, i64,
               f64, u64, f64p, i64, i32p, f32p),
           nopython=True, error_model="numpy")
    def per_example_c(win, wout, V, d, idp, n_ids, offp, n_off, s_begin, s_end, keepp, probp, aliasp,
                      n_noise, window, negative, lr, seed, statsp, n_buf, bufp, neu1ep):
        return sgns_per_example_core(
            carray(win, (V, d)), carray(wout, (V, d)), carray(idp, (n_ids,)), carray(offp, (n_off,)),
            s_begin, s_end, carray(keepp, (V,)), carray(probp, (n_noise,)), carray(aliasp, (n_noise,)),
            window, negative, lr, seed, carray(statsp, (3,)), carray(bufp, (n_buf,)), carray(neu1ep, (d,)))

    @cfunc(u64(f32p, f32p, i64, i64, i32p, i64, i64p, i64, i64, i64, f32p, f64p, i64p, i64, i64, i64,
               f64, u64, f64p, i64, i32p, f32p, f32p),
           nopython=True, error_model="numpy")
    def cbow_c(win, wout, V, d, idp, n_ids, offp, n_off, s_begin, s_end, keepp, probp, aliasp,
               n_noise, window, negative, lr, seed, statsp, n_buf, bufp, hp, neu1ep):
        return cbow_core(
            carray(win, (V, d)), carray(wout, (V, d)), carray(idp, (n_ids,)), carray(offp, (n_off,)),
            s_begin, s_end, carray(keepp, (V,)), carray(probp, (n_noise,)), carray(aliasp, (n_noise,)),
            window, negative, lr, seed, carray(statsp, (3,)), carray(bufp, (n_buf,)), carray(hp, (d,)),
            carray(neu1ep, (d,)))

    @cfunc(i64(f64p, i64, f64p, i64p, f64p, i64p, i64p), nopython=True, error_model="numpy")
    def vose_c(pp, n, probp, aliasp, scaledp, smallp, largep):
        vose_core(carray(pp, (n,)), carray(probp, (n,)), carray(aliasp, (n,)), carray(scaledp, (n,)),
                  carray(smallp, (n,)), carray(largep, (n,)))
        return 0

    out = []
    for fn, name in zip((shared_c, per_example_c, cbow_c, vose_c), _SYMBOLS):
        lib = fn._library
        lib._ensure_finalized()
        out.append((str(lib._final_module), fn.native_name, name))
    return out


def build(path: str) -> str:
    """Compile the kernels into the shared library ``path`` (atomically). Needs numba and a C compiler."""
    import llvmlite.binding as ll

    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if not cc:
        raise NegsampleError("no C compiler (cc/gcc) on PATH to link the native kernel library")
    ll.initialize_native_target()
    ll.initialize_native_asmprinter()
    target = ll.Target.from_default_triple()
    tm = target.create_target_machine(cpu=ll.get_host_cpu_name(), features=ll.get_host_cpu_features().flatten(),
                                      opt=3, reloc="pic", codemodel="default")
    pieces = _compile_modules()
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=directory, prefix=".build-") as tmp:
        objects, stubs = [], set()
        for i, (ir, symbol, name) in enumerate(pieces):
            mod = ll.parse_assembly(ir)
            mod.verify()
            fn = mod.get_function(symbol)
            fn.name = name
            for g in mod.functions:
                # every numba-internal definition stays private to this object (no clashes)
                if not g.is_declaration and g.name != name:
                    g.linkage = ll.Linkage.internal
            for g in mod.functions:
                if g.is_declaration and (g.name.startswith("numba_") or g.name.startswith("NRT_")):
                    stubs.add(g.name)
            for g in mod.global_variables:
                if not g.is_declaration:
                    g.linkage = ll.Linkage.internal
            obj = os.path.join(tmp, f"k{i}.o")
            with open(obj, "wb") as f:
                f.write(tm.emit_object(mod))
            objects.append(obj)
        # numba's runtime helpers are referenced only on error paths the cores cannot take (no
        # allocation, error_model="numpy"); they abort with a message instead of being linked in.
        stub_c = os.path.join(tmp, "stubs.c")
        with open(stub_c, "w") as f:
            f.write("#include <stdio.h>\n#include <stdlib.h>\n")
            for s in sorted(stubs):
                f.write(f'__attribute__((visibility("hidden"))) void {s}(void) {{ fprintf(stderr, "negsample native kernel: unexpected call '
                        f'to {s}\\n"); abort(); }}\n')
        so_tmp = os.path.join(tmp, "kernels.so")
        cmd = [cc, "-shared", "-fPIC", "-O2", "-o", so_tmp, *objects, stub_c, "-lm"]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise NegsampleError(f"linking the native kernels failed ({' '.join(cmd)}): {proc.stderr.strip()}")
        lib = ctypes.CDLL(so_tmp)                  # check it loads and exports the kernels
        for name in _SYMBOLS:
            getattr(lib, name)
        os.replace(so_tmp, path)
    return path


def loaded_path() -> str | None:
    """Path of the loaded library, if any."""
    return _state.get("path")


def _add_commands(sub):
    b = sub.add_parser("build", help="compile the kernels into PATH (default: the cache location)")
    b.add_argument("path", nargs="?")


def _kernels_command(args) -> int:
    print(build(args.path or library_path()))
    return 0


def _main(argv=None) -> int:
    import argparse

    ap = argparse.ArgumentParser(prog="python -m negsample.kernels.native",
                                 description="Build or inspect the native kernel library.")
    _add_commands(ap.add_subparsers(dest="cmd", required=True))
    args = ap.parse_args(argv)
    try:
        return _kernels_command(args)
    except NegsampleError as exc:
        # one line: the parent reports the child's last stderr line
        print("error: " + " | ".join(ln for ln in str(exc).splitlines() if ln.strip()), file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(_main())
