"""Benchmarks for gett_async: throughput against a fast local server, CPU cost, memory.

Run ``python -m benchmarks`` (see benchmarks/README.md).
"""
