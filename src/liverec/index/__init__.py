"""Nearest-neighbour indexes by inner product or cosine behind one small interface."""

from liverec.index.base import VectorIndex, recall_at_k
from liverec.index.exact import ExactIndex
from liverec.index.faiss_index import HNSWIndex, HNSWSQ8Index, IVFIndex, set_threads
from liverec.index.registry import INDEXES, build_index, index_class, load_index

__all__ = [
    "INDEXES",
    "ExactIndex",
    "HNSWIndex",
    "HNSWSQ8Index",
    "IVFIndex",
    "VectorIndex",
    "build_index",
    "index_class",
    "load_index",
    "recall_at_k",
    "set_threads",
]
