"""One persistence convention and one output-path policy for every application.

Persistence (models and checkpoints; docs/security.md): a ``.npz`` archive of plain numeric
arrays, never pickle. Strings (vocabularies, ids) are one UTF-8 byte blob plus int64 offsets;
metadata is JSON. Every file records ``format`` = "negsample", its ``kind`` (e.g.
"word2vec-checkpoint", "recsys-model") and a ``version``; ``load_arrays`` checks all three and
each member's declared shape against the archive before reading, and never unpickles
(``allow_pickle=False``), so a file received from someone else is data, never code.

Output paths (``check_output_path``, ``atomic_write``): checked before any work starts. The
destination must be a regular file or not exist (a device, FIFO, socket, directory or symbolic
link is refused), must not be one of the inputs, and its directory must exist or be creatable
and be writable. Output is written to a temporary file in the same directory, fsynced and renamed
over the destination, so an interrupted job leaves the old file or nothing; the new file gets
the old file's permission bits, or 0666 minus the umask for a new file (like ``open``). Errors
name the user's path, never the temporary one.
"""
from __future__ import annotations

import contextlib
import json
import os
import stat
import tempfile
import zipfile
from typing import IO, Iterator

import numpy as np

from ._common import NegsampleError

__all__ = ["save_arrays", "load_arrays", "check_output_path", "atomic_write", "pack_strings",
           "unpack_strings", "FORMAT"]

FORMAT = "negsample"
_META = "__meta__"
_STR_BLOB = "__strings__.{}.blob"
_STR_OFFS = "__strings__.{}.offsets"


# --------------------------------------------------------------------------- output paths

def _umask() -> int:
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    old = os.umask(0o022)
    os.umask(old)
    return old


def _kind_of(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISFIFO, "a FIFO"),
                       (stat.S_ISSOCK, "a socket"), (stat.S_ISLNK, "a symbolic link")):
        if test(mode):
            return name
    return "not a regular file"


def check_output_path(path, inputs=(), what: str = "output") -> str:
    """Validate an output destination before any work (see the module docstring). Returns the
    path; raises NegsampleError naming ``path``."""
    if path is None or os.fspath(path) == "":
        raise NegsampleError(f"{what} path is empty")
    path = os.fspath(path)
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        st = None
    except NotADirectoryError:
        st = None
    except OSError as exc:
        raise NegsampleError(f"cannot write {what} {path}: {exc.strerror}") from None
    if st is not None:
        if not stat.S_ISREG(st.st_mode):
            raise NegsampleError(f"{what} {path} is {_kind_of(st.st_mode)}; refusing to replace it "
                                 "(give the path of a regular file)")
        for inp in inputs:
            if inp is None:
                continue
            try:
                if os.path.samefile(path, inp):
                    raise NegsampleError(f"{what} {path} is the input file {os.fspath(inp)}; "
                                         "choose another output path")
            except OSError:
                continue
    # the nearest existing ancestor must be a writable directory
    directory = os.path.dirname(os.path.abspath(path))
    probe = directory
    while not os.path.lexists(probe):
        parent = os.path.dirname(probe)
        if parent == probe:
            break
        probe = parent
    if not os.path.isdir(probe):
        raise NegsampleError(f"cannot write {what} {path}: {probe} is not a directory")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise NegsampleError(f"cannot write {what} {path}: directory {probe} is not writable")
    return path


@contextlib.contextmanager
def atomic_write(path, mode: str = "wb", inputs=(), what: str = "output") -> Iterator[IO]:
    """Write ``path`` through a temporary file in its directory, then rename it into place.

    The destination is checked first (``check_output_path``); the new file keeps the old one's
    permission bits, or 0666 & ~umask. An exception inside the block leaves the old file (or
    nothing) and removes the temporary file.
    """
    path = check_output_path(path, inputs, what)
    directory = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(directory, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise NegsampleError(f"cannot write {what} {path}: {exc.strerror}") from None
    try:
        try:
            old = os.stat(path).st_mode & 0o7777
        except OSError:
            old = 0o666 & ~_umask()
        os.fchmod(fd, old)
        encoding = None if "b" in mode else "utf-8"
        with os.fdopen(fd, mode, encoding=encoding) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        try:  # the destination may have changed kind while we worked
            st = os.lstat(path)
            if not stat.S_ISREG(st.st_mode):
                raise NegsampleError(f"{what} {path} became {_kind_of(st.st_mode)} while writing; not replaced")
        except FileNotFoundError:
            pass
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise NegsampleError(f"cannot write {what} {path}: {exc.strerror or exc}") from None
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


# --------------------------------------------------------------------------- strings

def pack_strings(strings) -> tuple[np.ndarray, np.ndarray]:
    """A list of str -> (UTF-8 blob uint8 (nbytes,), offsets int64 (n+1,))."""
    encoded = [str(s).encode("utf-8") for s in strings]
    offsets = np.zeros(len(encoded) + 1, np.int64)
    if encoded:
        offsets[1:] = np.cumsum([len(b) for b in encoded])
    blob = np.frombuffer(b"".join(encoded), dtype=np.uint8).copy()
    return blob, offsets


def unpack_strings(blob: np.ndarray, offsets: np.ndarray, name: str = "strings") -> list:
    """Inverse of ``pack_strings``, validating the offsets."""
    blob = np.asarray(blob)
    offsets = np.asarray(offsets)
    if blob.dtype != np.uint8 or blob.ndim != 1 or offsets.dtype != np.int64 or offsets.ndim != 1 \
            or offsets.size < 1 or offsets[0] != 0 or offsets[-1] != blob.size or np.any(np.diff(offsets) < 0):
        raise NegsampleError(f"{name}: malformed string table")
    raw = blob.tobytes()
    try:
        return [raw[offsets[i]:offsets[i + 1]].decode("utf-8") for i in range(offsets.size - 1)]
    except UnicodeDecodeError:
        raise NegsampleError(f"{name}: strings are not valid UTF-8") from None


# --------------------------------------------------------------------------- archives

def _jsonable(x):
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, float) and not np.isfinite(x):
        return None
    return x


def save_arrays(path, kind: str, arrays: dict, meta: dict | None = None, strings: dict | None = None,
                version: int = 1, inputs=()) -> None:
    """Write a negsample archive atomically: numeric ``arrays`` (name -> ndarray, no object
    dtype), ``strings`` (name -> list of str) and JSON ``meta``."""
    out = {}
    for name, a in arrays.items():
        a = np.asarray(a)
        if a.dtype.kind not in "biuf":
            raise NegsampleError(f"array {name!r} has dtype {a.dtype}; archives hold numbers only")
        out[name] = a
    for name, values in (strings or {}).items():
        out[_STR_BLOB.format(name)], out[_STR_OFFS.format(name)] = pack_strings(values)
    header = {"format": FORMAT, "kind": kind, "version": int(version), "meta": _jsonable(meta or {})}
    out[_META] = np.frombuffer(json.dumps(header, allow_nan=False).encode("utf-8"), dtype=np.uint8).copy()
    with atomic_write(path, "wb", inputs=inputs, what=kind) as fh:
        np.savez(fh, **out)


def _physical_memory() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 1 << 40


def load_arrays(path, kind: str, max_version: int = 1, required=(), required_strings=()):
    """Read a negsample archive: returns (arrays dict, strings dict, meta dict, version).

    Raises NegsampleError (one line naming the file) for a missing file, a file that is not a
    negsample archive of this ``kind``, a newer format version, pickled members, members whose
    declared size disagrees with the archive or exceeds the machine's memory, and missing
    ``required`` arrays / ``required_strings``."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise NegsampleError(f"{kind} file not found: {path}")
    if not os.path.isfile(path):
        raise NegsampleError(f"{kind} {path} is not a regular file")
    bad = f"{path} is not a negsample {kind} file"
    try:
        with zipfile.ZipFile(path) as zf:
            infos = {i.filename: i for i in zf.infolist()}
            total = 0
            for name, info in infos.items():
                if not name.endswith(".npy"):
                    raise NegsampleError(f"{bad}: unexpected member {name!r}")
                with zf.open(info) as fh:
                    version = np.lib.format.read_magic(fh)
                    if version == (1, 0):
                        shape, fortran, dtype = np.lib.format.read_array_header_1_0(fh)
                    else:
                        shape, fortran, dtype = np.lib.format.read_array_header_2_0(fh)
                    header_len = fh.tell()
                if dtype.hasobject:
                    raise NegsampleError(f"{bad}: member {name!r} holds Python objects (pickle), refused")
                nbytes = int(np.prod(shape, dtype=np.float64)) * dtype.itemsize
                if nbytes != info.file_size - header_len:
                    raise NegsampleError(f"{bad}: member {name!r} declares {nbytes} bytes but holds "
                                         f"{info.file_size - header_len}")
                total += nbytes
            if total > _physical_memory():
                raise NegsampleError(f"{path}: arrays of {total / 2**30:.1f} GiB do not fit in this machine's memory")
            if _META + ".npy" not in infos:
                raise NegsampleError(bad)
        with np.load(path, allow_pickle=False) as z:
            raw = z[_META]
            try:
                header = json.loads(raw.tobytes().decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError, AttributeError):
                raise NegsampleError(f"{bad}: unreadable metadata") from None
            if not isinstance(header, dict) or header.get("format") != FORMAT:
                raise NegsampleError(bad)
            if header.get("kind") != kind:
                raise NegsampleError(f"{path} is a negsample {header.get('kind')!r} file, not a {kind} file")
            version = header.get("version")
            if not isinstance(version, int) or version < 1:
                raise NegsampleError(f"{bad}: bad format version {version!r}")
            if version > max_version:
                raise NegsampleError(f"{path} has format version {version}; this negsample reads up to "
                                     f"{max_version} (upgrade negsample)")
            arrays, strings = {}, {}
            for name in z.files:
                if name == _META:
                    continue
                if name.startswith("__strings__."):
                    continue
                arrays[name] = z[name]
            for name in z.files:
                if name.startswith("__strings__.") and name.endswith(".blob"):
                    key = name[len("__strings__."):-len(".blob")]
                    offs = _STR_OFFS.format(key)
                    if offs not in z.files:
                        raise NegsampleError(f"{bad}: string table {key!r} has no offsets")
                    strings[key] = unpack_strings(z[name], z[offs], f"{path}: {key}")
    except NegsampleError:
        raise
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, KeyError) as exc:
        raise NegsampleError(f"{bad}: {exc}") from None
    missing = [r for r in required if r not in arrays] + [r for r in required_strings if r not in strings]
    if missing:
        raise NegsampleError(f"{path}: {kind} file lacks {', '.join(missing)}")
    meta = header.get("meta") or {}
    if not isinstance(meta, dict):
        raise NegsampleError(f"{bad}: metadata is not an object")
    return arrays, strings, meta, version


def check_array(arrays: dict, name: str, path, dtype=None, ndim=None, shape=None, finite=False):
    """Validate one loaded array (kind, dimensions, shape with None as wildcard, finiteness)."""
    a = arrays[name]
    if dtype is not None and a.dtype.kind != np.dtype(dtype).kind:
        raise NegsampleError(f"{path}: {name} has dtype {a.dtype}, expected {np.dtype(dtype).name}")
    if ndim is not None and a.ndim != ndim:
        raise NegsampleError(f"{path}: {name} has {a.ndim} dimensions, expected {ndim}")
    if shape is not None and (len(shape) != a.ndim or any(s is not None and s != t for s, t in zip(shape, a.shape))):
        raise NegsampleError(f"{path}: {name} has shape {a.shape}, expected {tuple('*' if s is None else s for s in shape)}")
    if finite and a.dtype.kind == "f" and not np.all(np.isfinite(a)):
        raise NegsampleError(f"{path}: {name} contains NaN or infinite values")
    return a


# --------------------------------------------------------------------------- inputs

_MAGIC = ((b"\x1f\x8b", "gzip"), (b"BZh", "bz2"), (b"\xfd7zXZ\x00", "xz"))


def open_input(path, what: str = "input"):
    """Open a file for binary reading, decompressing gzip / bz2 / xz (detected from the first
    bytes, whatever the name). Errors name the file: missing, a directory, unreadable, not a
    regular file (a FIFO would hang the format detection), corrupt compression."""
    import bz2
    import gzip
    import lzma

    path = os.fspath(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise NegsampleError(f"{what} not found: {path}") from None
    except OSError as exc:
        raise NegsampleError(f"cannot read {what} {path}: {exc.strerror}") from None
    if stat.S_ISDIR(st.st_mode):
        raise NegsampleError(f"{what} is a directory, not a file: {path}")
    if not stat.S_ISREG(st.st_mode):
        raise NegsampleError(f"{what} {path} is not a regular file")
    try:
        fh = open(path, "rb")
    except OSError as exc:
        raise NegsampleError(f"cannot read {what} {path}: {exc.strerror}") from None
    head = fh.read(6)
    fh.seek(0)
    kind = next((k for magic, k in _MAGIC if head.startswith(magic)), None)
    if kind is None:
        return fh
    fh.close()
    opener = {"gzip": gzip.open, "bz2": bz2.open, "xz": lzma.open}[kind]
    try:
        zf = opener(path, "rb")
        zf.peek(1)
    except (OSError, EOFError, lzma.LZMAError) as exc:
        raise NegsampleError(f"cannot read {what} {path}: corrupt {kind} data ({exc})") from None
    return zf


def open_text(path, what: str = "input", errors: str = "strict"):
    """``open_input`` as UTF-8 text (``errors`` as for ``open``)."""
    import io as _io

    return _io.TextIOWrapper(open_input(path, what), encoding="utf-8", errors=errors)


def read_fields(path, n_fields: int, what: str, form: str):
    """Yield (line number, fields) of a text file of ``n_fields`` columns (tab-separated, or
    whitespace-separated when a line has no tab split into ``n_fields``; plain / gz / bz2 / xz;
    empty lines and lines starting with '#' skipped). A line of another shape, undecodable bytes
    or corrupt compression: one NegsampleError naming the file, the line and ``form``."""
    import lzma

    path = os.fspath(path)
    n = 0
    try:
        with open_text(path, what) as fh:
            for n, line in enumerate(fh, 1):
                line = line.rstrip("\n").rstrip("\r")
                if not line.strip() or line.startswith("#"):
                    continue
                parts = line.split("\t")
                if len(parts) != n_fields:
                    parts = line.split()
                parts = [x.strip() for x in parts]
                if len(parts) != n_fields or not all(parts):
                    raise NegsampleError(f"{path}: line {n} is not '{form}'")
                yield n, parts
    except (UnicodeDecodeError, lzma.LZMAError, EOFError) as exc:
        raise NegsampleError(f"{path}: cannot read {what} near line {n + 1} ({exc})") from None
    except OSError as exc:
        raise NegsampleError(f"cannot read {what} {path}: {exc}") from None
