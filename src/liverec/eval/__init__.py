"""Offline and streaming evaluation: metrics and protocols."""
