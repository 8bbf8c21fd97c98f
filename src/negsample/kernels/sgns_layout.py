"""Scratch layout of ``sgns.sgns_block_core``, without numba (the native entry imports it)."""
import numpy as np


def block_scratch(d, window, block, block_negatives):
    """(name, shape, dtype) of each scratch array after the sentence buffer: two plan slots (the
    current block's and the next one's) of windows, inputs and targets, and the update buffers."""
    T = block + block_negatives
    NI = block + 2 * window + 1
    return (("lo_", (2 * block,), np.int64), ("hi_", (2 * block,), np.int64), ("inp", (2 * NI,), np.int64),
            ("inw", (2 * NI,), np.int64), ("tgt", (2 * T,), np.int32), ("valid", (2 * T,), np.float32),
            ("U", (T, d), np.float32), ("dU", (T, d), np.float32), ("v", (d,), np.float32),
            ("acc", (d,), np.float32), ("gs", (T,), np.float32))
