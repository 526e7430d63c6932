"""Loading, validating and splitting interaction data."""
