"""SASRec, a text-aware causal transformer over behaviour sequences, in the nanoGPT layout.

``config`` (the dataclass), ``net`` (the torch modules; only imported where torch is),
``sequences`` (gap buckets, last events), ``model`` (the offline recommender), ``train`` (the
loop), ``export`` (ONNX graphs), ``encoder`` (the graphs in onnxruntime), ``encodings`` (the
per-user serving state) and ``component`` (what a snapshot trains and serves). Dependencies
point down that list: nothing imports ``train``, ``export`` or ``component`` but the layers
above them.
"""

from liverec.models.sasrec.component import SASRecComponent
from liverec.models.sasrec.config import SEARCH_SPACE, SASRecConfig
from liverec.models.sasrec.model import SASRec

__all__ = ["SEARCH_SPACE", "SASRec", "SASRecComponent", "SASRecConfig"]
