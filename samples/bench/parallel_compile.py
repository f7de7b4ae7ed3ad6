"""N processes that start together on an empty cache, all calling the same new program.

    python samples/bench/parallel_compile.py [--processes 8] [--flowc PATH]

Each child imports flowc, says it is ready, waits until all are, then calls a softmax program
(lower, compile or wait for the one compiling it, load, run) and checks it against NumPy. Reports
the wall time from "all ready" to the last child done, each child's first-call time, and how many
compiles happened (counted by a ``FLOWC_CXX`` wrapper around g++ that logs each run with ``-o``,
which works for every flowc version). ``--flowc`` puts another checkout first on ``PYTHONPATH``
(to compare against a version without the per-entry lock). Rough figures: a busy machine changes them a lot.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from common import write_json

CHILD = textwrap.dedent('''
    import json, os, sys, time
    import numpy as np
    import flowc
    N, M = flowc.symbol("N"), flowc.symbol("M")

    @flowc.program
    def softmax(x: flowc.float32[N, M]):
        m = np.max(x, axis=-1, keepdims=True)
        e = np.exp(x - m)
        return e / np.sum(e, axis=-1, keepdims=True)

    ready, count = sys.argv[1], int(sys.argv[2])
    open(os.path.join(ready, str(os.getpid())), "w").close()
    while len(os.listdir(ready)) < count:
        time.sleep(0.001)
    x = np.random.default_rng().standard_normal((64, 128), dtype=np.float32)
    t = time.perf_counter()
    y = softmax(x)
    first = time.perf_counter() - t
    e = np.exp(x - x.max(-1, keepdims=True))
    assert np.abs(y - e / e.sum(-1, keepdims=True)).max() < 1e-5
    print(json.dumps({"first_call_s": first, "done": time.time()}))
''')


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--processes", type=int, default=8)
    ap.add_argument("--flowc", help="a flowc checkout to import instead of the installed one")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        script, ready, cache = Path(tmp) / "child.py", Path(tmp) / "ready", Path(tmp) / "cache"
        script.write_text(CHILD)
        ready.mkdir()
        log, wrapper = Path(tmp) / "compiles.log", Path(tmp) / "counting-g++"
        wrapper.write_text(f'#!/bin/sh\ncase " $* " in *" -o "*) echo run >> {log};; esac\nexec g++ "$@"\n')
        wrapper.chmod(0o755)
        env = {**os.environ, "FLOWC_CACHE_DIR": str(cache), "FLOWC_CXX": str(wrapper)}
        if args.flowc:
            env["PYTHONPATH"] = os.pathsep.join(p for p in (args.flowc, env.get("PYTHONPATH")) if p)
        procs = [subprocess.Popen([sys.executable, str(script), str(ready), str(args.processes)], env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for _ in range(args.processes)]
        while len(os.listdir(ready)) < args.processes:
            time.sleep(0.001)
        start = time.time()
        outs = []
        for p in procs:
            out, err = p.communicate()
            if p.returncode:
                raise SystemExit(f"child failed:\n{err}")
            outs.append(json.loads(out.strip().splitlines()[-1]))
        compiles = len(log.read_text().splitlines()) if log.exists() else 0
    results = {
        "processes": args.processes,
        "wall_s": max(o["done"] for o in outs) - start,
        "first_call_median_s": statistics.median(o["first_call_s"] for o in outs),
        "first_call_max_s": max(o["first_call_s"] for o in outs),
        "compiles": compiles,
    }
    for k, v in results.items():
        print(f"{k:24s} {v:10.3f}" if isinstance(v, float) else f"{k:24s} {v:10d}")
    print(f"wrote {write_json('parallel_compile', results)}")


if __name__ == "__main__":
    main()
