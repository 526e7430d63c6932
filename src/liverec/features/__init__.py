"""Features computed from data and kept current per event: online state, text embeddings."""
