"""The native kernel library: build, trusted loading, and the Python entry points.

Why: a process that imports numba maps LLVM (``libllvmlite.so``, about 90 MB resident) and every
JIT-loaded kernel adds more (about 45 MB for the SGNS kernels, even from numba's cache). Word2vec
training needs only a few loops, so their allocation-free numba cores (the table in
``negsample.kernels.signatures``) are compiled once per machine, ahead of time, into
``kernels-<key>.so``:

    numba ``cfunc`` wrappers generated from the signature table (pointers + sizes -> ``carray``
    views -> the cores) -> LLVM IR -> host-CPU object code -> ``cc -shared`` -> the cache directory.

The build runs in a child process (``python -m negsample.kernels.native build PATH``), so the
training process loads only the small library; ctypes releases the GIL during each call, so
Python threads run the kernels in parallel (Hogwild) exactly as with the numba JIT.

Trust (docs/security.md): the cache directory must belong to the user and be private (created
0700; a directory owned by someone else, or writable by group/others, is refused). The build
writes ``<library>.sha256`` next to the library; a library is loaded only if its bytes hash to
that record, and it is loaded from the same open file descriptor that was hashed (no swap between
check and load). Lock and temporary files are opened without following symbolic links.

The key hashes the kernel sources, the numba/llvmlite/Python versions and the CPU (model and
flags from /proc/cpuinfo), so a changed kernel or another CPU gets its own library. Backend:
``NEGSAMPLE_KERNELS=auto`` (default: native when it builds, else the numba JIT with a one-line
note), ``native`` (fail with a clear error if it cannot build) or ``jit``. Cache directory:
``NEGSAMPLE_CACHE_DIR``, else ``$XDG_CACHE_HOME/negsample``, else ``~/.cache/negsample``.
Linux only (elsewhere the JIT runs).
"""
from __future__ import annotations

import ctypes
import hashlib
import logging
import os
import platform
import shutil
import stat
import subprocess
import sys
import tempfile
import threading

import numpy as np

from .._common import NegsampleError
from . import signatures as sig

_HERE = os.path.dirname(os.path.abspath(__file__))
_SOURCES = ("sgns.py", "alias.py", "noise.py", "streams.py", "native.py", "signatures.py")
_lock = threading.Lock()
log = logging.getLogger("negsample")
_state: dict = {}          # "lib": CDLL or None, "reason": why not native, "path": library path


# --------------------------------------------------------------------------- where and which

def cache_dir() -> str:
    d = os.environ.get("NEGSAMPLE_CACHE_DIR")
    if not d:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        d = os.path.join(base, "negsample")
    return d


def private_cache_dir() -> str:
    """The cache directory, created 0700 if missing; refused unless it is a real directory owned
    by this user and closed to group and others (a directory we own is tightened to 0700)."""
    d = cache_dir()
    try:
        os.makedirs(d, mode=0o700, exist_ok=True)
        st = os.lstat(d)
    except OSError as exc:
        raise NegsampleError(f"kernel cache directory {d} is unusable: {exc.strerror}") from None
    if not stat.S_ISDIR(st.st_mode):
        raise NegsampleError(f"kernel cache {d} is not a directory (a symbolic link or file); refusing to use it")
    if st.st_uid != os.geteuid():
        raise NegsampleError(f"kernel cache directory {d} belongs to another user; refusing to load code from it "
                             "(set NEGSAMPLE_CACHE_DIR to a private directory)")
    if st.st_mode & 0o077:
        try:
            os.chmod(d, 0o700)
        except OSError as exc:
            raise NegsampleError(f"kernel cache directory {d} is open to other users and cannot be made "
                                 f"private: {exc.strerror}") from None
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
    try:
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
    except OSError:
        pass
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

def _bind(lib):
    for name, kernel in sig.KERNELS.items():
        f = getattr(lib, sig.symbol(name))
        f.argtypes, f.restype = sig.ctypes_types(kernel)
    return lib


def _build_in_child(path: str) -> None:
    """Build the library at ``path`` in a child process (it imports numba; we do not)."""
    env = dict(os.environ)
    pkg_root = os.path.dirname(os.path.dirname(_HERE))
    env["PYTHONPATH"] = pkg_root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    log.info("compiling the native kernel library once for this machine (-> %s) ...", path)
    proc = subprocess.run([sys.executable, "-m", "negsample.kernels.native", "build", path],
                          env=env, capture_output=True, text=True, timeout=900)
    if proc.returncode != 0 or not os.path.exists(path):
        lines = [ln for ln in (proc.stderr or proc.stdout or "").strip().splitlines() if ln.strip()]
        raise NegsampleError("building the native kernel library failed: "
                             + (lines[-1] if lines else f"exit code {proc.returncode}"))


def _open_nofollow(path: str, flags: int) -> int:
    return os.open(path, flags | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0), 0o600)


def _load_verified(path: str):
    """dlopen ``path`` only if its bytes hash to the recorded ``path.sha256``; the bytes hashed
    are those of the descriptor that is then loaded (via /proc/self/fd)."""
    try:
        with open(path + ".sha256", encoding="ascii") as fh:
            recorded = fh.read().strip()
    except OSError:
        raise NegsampleError(f"{path} has no recorded hash; not loading it (delete it to rebuild)") from None
    fd = _open_nofollow(path, os.O_RDONLY)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_uid != os.geteuid():
            raise NegsampleError(f"{path} is not a regular file owned by this user; not loading it")
        h = hashlib.sha256()
        while True:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                break
            h.update(chunk)
        if h.hexdigest() != recorded:
            raise NegsampleError(f"{path} does not match its recorded hash; not loading it (delete it to rebuild)")
        return _bind(ctypes.CDLL(f"/proc/self/fd/{fd}"))
    finally:
        os.close(fd)


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
                private_cache_dir()
                path = library_path()
                if not os.path.exists(path):
                    _build_locked(path)
                lib = _load_verified(path)
                _state["path"] = path
            except (OSError, NegsampleError, subprocess.SubprocessError, AttributeError) as exc:
                reason = f"{exc}"
                lib = None
        if lib is None and mode == "native":
            raise NegsampleError(f"NEGSAMPLE_KERNELS=native but the native kernels are unavailable: {reason}")
        if lib is None and mode == "auto":
            log.warning("using the numba JIT kernels (%s)", reason)
        _state["lib"], _state["reason"] = lib, reason
        return lib


def _build_locked(path: str) -> None:
    import fcntl

    fd = _open_nofollow(path + ".lock", os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)          # another process may be building it
        try:
            if not os.path.exists(path):
                _build_in_child(path)
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def backend() -> str:
    """'native' (ahead-of-time library) or 'numba-jit'."""
    return "native" if load() is not None else "numba-jit"


def reason() -> str | None:
    load()
    return _state.get("reason")


def loaded_path() -> str | None:
    """Path of the loaded library, if any."""
    return _state.get("path")


# --------------------------------------------------------------------------- the kernels

def _error(msg):
    raise NegsampleError(msg)


def _call(name: str, values: dict):
    """Check ``values`` against the signature table and call ``negsample_<name>``."""
    lib = load()
    kernel = sig.KERNELS[name]
    args = sig.pack_arguments(name, kernel, values, _error)
    return getattr(lib, sig.symbol(name))(*args)


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


def check_sgns_inputs(W_in, W_out, ids, offsets, s_begin, s_end, keep, prob, alias, filt, window, negative,
                      stats):
    """What the SGNS kernels assume, checked before a native call: ids inside the vocabulary,
    offsets non-decreasing inside ids, the sentence range inside offsets, the noise table and the
    filter arrays sized for the vocabulary. Returns (normalised inputs, longest sentence)."""
    V = W_in.shape[0] if isinstance(W_in, np.ndarray) and W_in.ndim == 2 else -1
    ids = np.ascontiguousarray(ids, dtype=np.int32)
    offsets = np.ascontiguousarray(offsets, dtype=np.int64)
    keep = np.ascontiguousarray(keep, dtype=np.float32)
    prob = np.ascontiguousarray(prob, dtype=np.float64)
    alias = np.ascontiguousarray(alias, dtype=np.int64)
    if ids.ndim != 1 or offsets.ndim != 1:
        raise NegsampleError("ids and offsets must be 1-D")
    if keep.shape != (V,):
        raise NegsampleError(f"keep has {keep.size} entries for a vocabulary of {V}")
    if prob.shape != alias.shape or prob.ndim != 1 or not 0 < prob.shape[0] <= V:
        raise NegsampleError(f"noise table of {prob.size} / {alias.size} entries does not fit a vocabulary of {V}")
    if alias.size and (alias.min() < 0 or alias.max() >= prob.size):
        raise NegsampleError("noise alias entries are outside the table")
    if not 0 <= s_begin <= s_end < offsets.shape[0]:
        raise NegsampleError(f"sentence range [{s_begin}, {s_end}) is outside the {offsets.shape[0] - 1} sentences")
    if int(window) < 1 or int(negative) < 1:
        raise NegsampleError("window and negative must be >= 1")
    if not isinstance(stats, np.ndarray) or stats.shape[0] < 11:
        raise NegsampleError("stats needs 11 entries (pairs, loss sum, loss terms, 7 filter counts, diverged)")
    maxlen = 0
    if s_end > s_begin:
        seg = offsets[s_begin:s_end + 1]
        lo, hi = int(seg[0]), int(seg[-1])
        steps = np.diff(seg)
        if lo < 0 or hi > ids.shape[0] or np.any(steps < 0):
            raise NegsampleError("offsets are not non-decreasing positions inside ids")
        maxlen = int(steps.max())
        if hi > lo:
            part = ids[lo:hi]
            if int(part.min()) < 0 or int(part.max()) >= V:
                raise NegsampleError(f"token ids must lie in [0, {V}), got [{int(part.min())}, {int(part.max())}]")
    kp_indptr, kp_indices, times, labels = filt[0], filt[1], filt[2], filt[3]
    if kp_indices.size and (kp_indices.min() < 0 or kp_indices.max() >= V):
        raise NegsampleError("known-positive ids are outside the vocabulary")
    if kp_indptr.size < 1 or kp_indptr[0] != 0 or kp_indptr[-1] != kp_indices.size or np.any(np.diff(kp_indptr) < 0):
        raise NegsampleError("known-positive CSR is malformed")
    if float(filt[4]) >= 0 and times.size != V:
        raise NegsampleError(f"times have {times.size} entries for a vocabulary of {V}")
    if labels.size not in (0, V):
        raise NegsampleError(f"labels have {labels.size} entries for a vocabulary of {V}")
    return ids, offsets, keep, prob, alias, maxlen


def _sgns_call(name, W_in, W_out, ids, offsets, s_begin, s_end, keep, prob, alias, filt, window, negative, lr,
               seed, stats, scratch, extra=()):
    """Run kernel ``name`` natively (validate, carve the scratch, call) or, without the library,
    through the numba JIT. ``scratch``: {name: (shape, dtype)} after the sentence buffer."""
    lib = load()
    if lib is None:
        from . import sgns

        return getattr(sgns, name)(W_in, W_out, ids, offsets, s_begin, s_end, keep, prob, alias, filt,
                                   window, negative, lr, seed, stats, *extra)
    s_begin, s_end, window, negative = map(int, (s_begin, s_end, window, negative))
    ids, offsets, keep, prob, alias, maxlen = check_sgns_inputs(
        W_in, W_out, ids, offsets, s_begin, s_end, keep, prob, alias, filt, window, negative, stats)
    names = ["buf"] + list(scratch)
    bufs = _scratch(((maxlen + 1,), np.int32), *scratch.values())
    values = dict(W_in=W_in, W_out=W_out, ids=ids, offsets=offsets, s_begin=s_begin, s_end=s_end, keep=keep,
                  prob=prob, alias=alias, filt=filt, window=window, negative=negative, lr=float(lr),
                  seed=int(seed), stats=stats, **dict(zip(names, bufs)))
    return int(_call(name, values))


def sgns_shared(W_in, W_out, ids, offsets, s_begin, s_end, keep, prob, alias, filt,
                window, negative, lr, seed, stats, max_batch=16):
    """Shared-negatives SGNS (same arguments and result as ``sgns.sgns_shared``), native when
    available, else the numba JIT kernel."""
    d, T = W_in.shape[-1], int(negative) + 1
    scratch = {"ctx": ((int(max_batch),), np.int32), "tgt": ((T,), np.int32), "valid": ((T,), np.float32),
               "U": ((T, d), np.float32), "dU": ((T, d), np.float32), "acc": ((d,), np.float32),
               "v": ((d,), np.float32), "gs": ((T,), np.float32)}
    return _sgns_call("sgns_shared", W_in, W_out, ids, offsets, s_begin, s_end, keep, prob, alias, filt, window,
                      negative, lr, seed, stats, scratch, (max_batch,))


def sgns_per_example(W_in, W_out, ids, offsets, s_begin, s_end, keep, prob, alias, filt,
                     window, negative, lr, seed, stats):
    """Per-example SGNS (same arguments and result as ``sgns.sgns_per_example``), native when
    available, else the numba JIT kernel."""
    return _sgns_call("sgns_per_example", W_in, W_out, ids, offsets, s_begin, s_end, keep, prob, alias, filt,
                      window, negative, lr, seed, stats, {"neu1e": ((W_in.shape[-1],), np.float32)})


def cbow(W_in, W_out, ids, offsets, s_begin, s_end, keep, prob, alias, filt,
         window, negative, lr, seed, stats):
    """CBOW with negative sampling (same arguments and result as ``sgns.cbow``), native when
    available, else the numba JIT kernel."""
    d = W_in.shape[-1]
    return _sgns_call("cbow", W_in, W_out, ids, offsets, s_begin, s_end, keep, prob, alias, filt, window, negative,
                      lr, seed, stats, {"h": ((d,), np.float32), "neu1e": ((d,), np.float32)})


def sgns_kernel(mode: str, arch: str = "skipgram"):
    """The training kernel: skip-gram with ``mode`` 'shared' or 'per-example' negatives, or CBOW
    (``arch='cbow'``, k negatives per centre word)."""
    if arch == "cbow":
        return cbow
    return sgns_shared if mode == "shared" else sgns_per_example


def build_alias(p: np.ndarray):
    """Vose tables for probabilities p (n,) float64: returns prob (n,) float64, alias (n,) int64."""
    p = np.ascontiguousarray(p, dtype=np.float64)
    lib = load()
    if lib is None:
        from .alias import build_alias_kernel

        return build_alias_kernel(p)
    n = p.shape[0]
    out = {k: np.empty(n, dt) for k, dt in (("prob", np.float64), ("alias", np.int64), ("scaled", np.float64),
                                            ("small", np.int64), ("large", np.int64))}
    _call("vose", dict(p=p, **out))
    return out["prob"], out["alias"]


# --------------------------------------------------------------------------- the build (child process)

def _compile_modules():
    """numba cfunc wrappers generated from the signature table; returns [(llvm IR, symbol, name)]."""
    import importlib

    from numba import carray, cfunc

    out = []
    for name, kernel in sig.KERNELS.items():
        core = getattr(importlib.import_module(f"negsample.kernels.{kernel.module}"), kernel.core)
        namespace = {"carray": carray, "core": core}
        exec(compile(sig.cfunc_source(name, kernel), f"<cfunc {name}>", "exec"), namespace)  # noqa: S102
        fn = cfunc(sig.cfunc_signature(kernel), nopython=True, error_model="numpy")(namespace[f"{name}_c"])
        lib = fn._library
        lib._ensure_finalized()
        out.append((str(lib._final_module), fn.native_name, sig.symbol(name)))
    return out


def _sha256_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def build(path: str) -> str:
    """Compile the kernels into the shared library ``path`` (atomically, with its hash record).
    Needs numba and a C compiler."""
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
    os.makedirs(directory, mode=0o700, exist_ok=True)
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
        for name in sig.KERNELS:
            getattr(lib, sig.symbol(name))
        digest = _sha256_file(so_tmp)
        hash_tmp = os.path.join(tmp, "kernels.sha256")
        with open(hash_tmp, "w", encoding="ascii") as f:
            f.write(digest + "\n")
        os.replace(hash_tmp, path + ".sha256")      # the record first: a library without one is never loaded
        os.replace(so_tmp, path)
    return path


def _main(argv=None) -> int:
    import argparse

    ap = argparse.ArgumentParser(prog="python -m negsample.kernels.native",
                                 description="Build the native kernel library.")
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="compile the kernels into PATH (default: the cache location)")
    b.add_argument("path", nargs="?")
    args = ap.parse_args(argv)
    try:
        print(build(args.path or library_path()))
        return 0
    except NegsampleError as exc:
        # one line: the parent reports the child's last stderr line
        print("error: " + " | ".join(ln for ln in str(exc).splitlines() if ln.strip()), file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(_main())
