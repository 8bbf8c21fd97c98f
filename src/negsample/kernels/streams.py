"""Seed streams and the noise core's constants, without numba (importable by a training
process that runs the native library only). See ``negsample.kernels.noise``."""

N_FILTER_COUNTS = 7
REASONS = ("self", "known", "time", "label")
_MASK = (1 << 64) - 1


def splitmix64(x: int) -> int:
    x = (x + 0x9E3779B97F4A7C15) & _MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK
    return x ^ (x >> 31)


def stream_seed(seed: int, *streams: int) -> int:
    """One 64-bit seed for the nested stream (seed, s1, s2, ...), e.g. (seed, epoch, chunk). Pass it
    to a kernel as its ``seed``; the kernel starts at ``stream_state(seed, 0)`` or at
    ``stream_state(seed, k)`` for its k-th sub-stream (walk, anchor). The result has 63 bits, so
    it passes to numba as an int64."""
    x = int(seed) & _MASK
    for s in streams:
        x = splitmix64(splitmix64(x) ^ (int(s) & _MASK))
    return x >> 1
