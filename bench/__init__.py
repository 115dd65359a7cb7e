"""Benchmarks: tfo against a sequential loop, `make -jP` and the critical path.

Run `python -m bench --help`, or `make bench` / `make bench-quick`.
"""
