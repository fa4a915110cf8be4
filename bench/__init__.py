"""Benchmarks: run each as `python -m bench.<name>`; they print their figures."""
