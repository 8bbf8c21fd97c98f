"""Shared plumbing: the package's error type, progress reporting, hyper-parameter checks.

Kept apart from the maths so every trainer reports errors and progress the same way.
"""
from __future__ import annotations

import math
import sys
import time
from typing import IO


class NegsampleError(ValueError):
    """Bad input or configuration. The CLI prints ``error: <message>`` and exits with 2."""


def format_duration(seconds: float) -> str:
    if not math.isfinite(seconds) or seconds < 0:
        return "?"
    seconds = int(round(seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


class Progress:
    """A one-line progress report on stderr: done/total, rate, ETA and any metrics given.

    ``update(done, **metrics)`` takes the absolute amount done. On a terminal the bar is tqdm's
    when tqdm is installed (``pip install 'negsample[progress]'``), else a line redrawn in place;
    when stderr is not a terminal (logs, CI) a plain line is printed every
    ``interval_noninteractive`` seconds. ``enabled=False`` silences it (library use, tests).
    """

    def __init__(self, total: float, unit: str = "it", desc: str = "", enabled: bool = True,
                 stream: IO | None = None, interval: float = 0.5, interval_noninteractive: float = 10.0):
        self.total = float(total)
        self.unit = unit
        self.desc = desc
        self.enabled = enabled
        self.stream = stream if stream is not None else sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.interval = interval if self.tty else interval_noninteractive
        self.start = time.perf_counter()
        self._last = -1e18
        self._done = 0.0
        self._metrics: dict = {}
        self._tqdm = None
        if enabled and self.tty:
            try:
                from tqdm import tqdm

                self._tqdm = tqdm(total=self.total, unit=unit, desc=desc or None, file=self.stream,
                                  mininterval=interval, unit_scale=True, leave=True)
            except ImportError:
                self._tqdm = None

    def rate(self) -> float:
        elapsed = time.perf_counter() - self.start
        return self._done / elapsed if elapsed > 0 else 0.0

    def line(self) -> str:
        elapsed = time.perf_counter() - self.start
        rate = self._done / elapsed if elapsed > 0 else 0.0
        frac = self._done / self.total if self.total > 0 else 1.0
        eta = (self.total - self._done) / rate if rate > 0 else float("nan")
        width = 20
        filled = int(round(width * min(max(frac, 0.0), 1.0)))
        bar = "#" * filled + "-" * (width - filled)
        parts = [f"{self.desc} " if self.desc else "", f"[{bar}] {100 * frac:5.1f}%",
                 f" {_si(rate)} {self.unit}/s", f" elapsed {format_duration(elapsed)}",
                 f" ETA {format_duration(eta)}"]
        for key, value in self._metrics.items():
            parts.append(f" {key} {value:.4g}" if isinstance(value, float) else f" {key} {value}")
        return "".join(parts)

    def update(self, done: float, force: bool = False, **metrics) -> None:
        previous = self._done
        self._done = float(done)
        self._metrics.update(metrics)
        if not self.enabled:
            return
        if self._tqdm is not None:
            if metrics:
                self._tqdm.set_postfix({k: (f"{v:.4g}" if isinstance(v, float) else v) for k, v in metrics.items()},
                                       refresh=False)
            self._tqdm.update(self._done - previous)
            return
        now = time.perf_counter()
        if force or now - self._last >= self.interval:
            self._last = now
            if self.tty:
                self.stream.write("\r" + self.line() + "\x1b[K")
            else:
                self.stream.write(self.line() + "\n")
            self.stream.flush()

    def close(self) -> None:
        if self._tqdm is not None:
            self._tqdm.close()
            return
        if self.enabled:
            self.update(self._done, force=True)
            if self.tty:
                self.stream.write("\n")
                self.stream.flush()


def _si(x: float) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(x) >= scale:
            return f"{x / scale:.2f}{unit}"
    return f"{x:.1f}"


def check_positive_int(name: str, value, minimum: int = 1) -> int:
    """Validate an integer hyper-parameter (ints or integral floats), raising NegsampleError naming it."""
    if isinstance(value, bool):
        raise NegsampleError(f"{name} must be an integer, got {value!r}")
    try:
        fvalue = float(value)
        ivalue = int(value)
    except (TypeError, ValueError, OverflowError):
        raise NegsampleError(f"{name} must be an integer, got {value!r}") from None
    if fvalue != ivalue:
        raise NegsampleError(f"{name} must be an integer, got {value!r}")
    if ivalue < minimum:
        raise NegsampleError(f"{name} must be >= {minimum}, got {value!r}")
    return ivalue


def check_finite_float(name: str, value, minimum: float | None = None, maximum: float | None = None,
                       strict_min: bool = False) -> float:
    """Validate a real hyper-parameter (finite, within bounds), raising NegsampleError naming it."""
    try:
        fvalue = float(value)
    except (TypeError, ValueError):
        raise NegsampleError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(fvalue):
        raise NegsampleError(f"{name} must be finite, got {value!r}")
    if minimum is not None and (fvalue <= minimum if strict_min else fvalue < minimum):
        op = ">" if strict_min else ">="
        raise NegsampleError(f"{name} must be {op} {minimum}, got {value!r}")
    if maximum is not None and fvalue > maximum:
        raise NegsampleError(f"{name} must be <= {maximum}, got {value!r}")
    return fvalue


def as_rng(seed_or_rng) -> "np.random.Generator":
    """numpy Generator from a seed, a Generator, or None (fresh entropy)."""
    import numpy as np

    if isinstance(seed_or_rng, np.random.Generator):
        return seed_or_rng
    return np.random.default_rng(seed_or_rng)
