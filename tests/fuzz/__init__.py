"""A differential fuzzer for flowc: random programs over the documented NumPy subset, compiled plain
and with ``auto_optimize=True``, compared with the same functions run by NumPy.

- ``gen``: the program generator (every candidate statement is checked by running it with NumPy);
- ``oracle``: inputs (with inf/nan/+-0 and integer extremes in about 30%), NumPy's result, comparison;
- ``worker``: the process that compiles and runs programs (a segfault kills only it);
- ``runner``: batches, worker processes, time limits, bisection of failing batches, the summary;
- ``minimize``: delta debugging of a failing program; ``replay``/``report``: replayable case files.

``python -m tests.fuzz --count N --seed S --out DIR [--jobs J]``; ``tests/test_fuzz.py`` runs a fixed seed.
"""
