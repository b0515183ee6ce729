"""Necto's benchmark (scripts/bench); see scripts/bench_lib/main.py."""
