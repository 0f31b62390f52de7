"""Benchmarks of mtl-service: `make bench` (or `python -m bench`) prints one table of ratios."""
