"""Matching benchmarks and threshold calibration (not installed; run from the repo root)."""
