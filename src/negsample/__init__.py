"""negsample: negative sampling made practical.

The spine (docs/design.md): the noise core ``negsample.kernels.noise`` and the sampler
``negsample.NegativeSampler`` that every trainer accepts. Trainers: ``negsample.word2vec``,
``negsample.graph``, ``negsample.recsys``, ``negsample.kg``, ``negsample.hyperbolic``; mining in
``negsample.mining``; torch losses in ``negsample.losses`` (optional extra).
"""
from ._common import NegsampleError
from .distributions import AliasTable, subsample_keep_prob, unigram
from .samplers import NegativeSampler

__version__ = "0.2.0"
__all__ = ["NegsampleError", "AliasTable", "NegativeSampler", "unigram", "subsample_keep_prob", "__version__"]
