"""Scratch layout of ``sgns.sgns_block_core``, without numba (the native entry imports it)."""
import numpy as np

GROUP = 6   # targets per pass of the kernel (negsample.kernels.sgns.GROUP)


def block_scratch(d, window, block, block_negatives):
    """(name, shape, dtype) of each scratch array after the sentence buffer: two plan slots (the
    current block's and the next one's) of windows, inputs and targets, and the update buffers."""
    T = block + block_negatives
    TG = (T + GROUP - 1) // GROUP * GROUP
    NI = block + 2 * window + 1
    return (("lo_", (2 * block,), np.int64), ("hi_", (2 * block,), np.int64), ("inp", (2 * NI,), np.int64),
            ("inw", (2 * NI,), np.int64), ("tgt", (2 * T,), np.int32), ("valid", (2 * T,), np.float32),
            ("U", (TG, d), np.float32), ("V", (NI, d), np.float32), ("G", (NI, TG), np.float32))
