"""tfo's configuration leaf: infra.yaml models, loading, the DAG, payloads and errors.

This package imports nothing else of tfo's and does no I/O beyond reading files.
"""
