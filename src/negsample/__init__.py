"""negsample: negative sampling made practical.

Core (numpy + numba): ``negsample.distributions`` (alias method, noise, subsampling),
``negsample.samplers``; trainers ``negsample.word2vec``, ``negsample.graph``, ``negsample.recsys``;
``negsample.mining``; torch losses in ``negsample.losses`` (optional extra).
"""
from ._common import NegsampleError
from .distributions import AliasTable, subsample_keep_prob, unigram

__version__ = "0.1.0"
__all__ = ["NegsampleError", "AliasTable", "unigram", "subsample_keep_prob", "__version__"]
