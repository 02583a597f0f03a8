"""minidl's benchmark suites (pytest-benchmark): Numba kernels vs their NumPy references vs PyTorch.

    pytest benchmarks/ --benchmark-only --benchmark-json=benchmarks/results/run.json
    python -m benchmarks.report benchmarks/results/run.json --png benchmarks/results/run.png

Nothing here is imported by minidl; the normal `pytest` run (testpaths = tests) skips it.
"""
