"""The live recommendation service without HTTP: snapshots, online state, pipeline, cache."""
