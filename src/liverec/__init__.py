"""liverec: a real-time recommender system."""

__version__ = "0.1.0"
