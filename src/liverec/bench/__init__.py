"""Benchmarks: load, freshness, naive baseline, ablation; each bounded in time, loopback only."""
