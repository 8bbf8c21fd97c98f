"""CSR membership test (numba): shared by the samplers' known-positive filter, the miners'
filters, the recsys kernel, the graph negatives and the walks."""
from numba import njit


@njit(nogil=True, cache=True, inline="always")
def csr_contains(indptr, indices, row, item):
    """True if ``item`` is in row ``row`` of a CSR structure whose rows are sorted (binary search)."""
    lo = indptr[row]
    hi = indptr[row + 1]
    while lo < hi:
        mid = (lo + hi) >> 1
        v = indices[mid]
        if v < item:
            lo = mid + 1
        elif v > item:
            hi = mid
        else:
            return True
    return False
