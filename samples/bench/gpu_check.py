"""Everything this project checks on a lent GPU, in one command that installs nothing and writes its
results under $OUT (or ./gpu-results):

    python samples/bench/gpu_check.py [--quick]

1. the device: nvidia-smi, nvcc, the architecture flowc generates for;
2. the GPU test suite: ``pytest -m gpu tests/test_cuda_device.py`` (the programs of
   tests/cuda_programs.py with NumPy, CuPy and PyTorch arrays);
3. ``compute-sanitizer --tool racecheck`` and ``--tool memcheck`` on the softmax, layernorm, a
   reduction with atomics and the attention block;
4. the benchmark: ``samples/bench/bert_gpu.py`` at BERT-large float32 (and BERT-base unless --quick).
Each step has a time limit and the summary is printed last.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SANITIZED = """
import numpy as np, flowc
from tests.cuda_programs import CASES, check
rng = np.random.default_rng()
for case in CASES:
    if case.name in ("softmax", "layernorm", "reductions", "attention", "flags"):
        prog = flowc.program(case.func, target="cuda", auto_optimize=True)
        args, kw = case.make(rng, 33 if case.name != "attention" else 9)
        check(case, prog(*args, **kw), args)
print("sanitized programs ran")
"""


def step(name: str, argv: list[str], out: Path, timeout: int, env: dict) -> str:
    t0 = time.time()
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, cwd=str(REPO), env=env)
        text, status = proc.stdout + proc.stderr, f"exit {proc.returncode}"
    except subprocess.TimeoutExpired as exc:
        text, status = f"{exc.stdout or ''}{exc.stderr or ''}", f"timed out after {timeout} s"
    except OSError as exc:
        text, status = str(exc), "could not start"
    (out / f"{name}.txt").write_text(text if isinstance(text, str) else text.decode(errors="replace"))
    line = f"{name:12s} {status:22s} {time.time() - t0:6.0f} s"
    print(line, flush=True)
    return line


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="BERT-large only, fewer repeats")
    args = ap.parse_args()
    out = Path(os.environ.get("OUT") or "gpu-results")
    out.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
               FLOWC_CACHE_DIR=str(out / "cache"))
    env.pop("FLOWC_CUDA_EMULATION", None)
    py = sys.executable
    lines = [step("device", ["bash", "-c", "nvidia-smi -L; nvcc --version | tail -2; " + py +
                             " -c 'from flowc.runtime import cuda; print(cuda.device_count(), cuda.device_arch())'"],
                  out, 60, env),
             step("pytest-gpu", [py, "-m", "pytest", "-m", "gpu", "-q", "-x", "tests/test_cuda_device.py"],
                  out, 900, env)]
    for tool in ("racecheck", "memcheck"):
        lines.append(step(tool, ["compute-sanitizer", f"--tool={tool}", "--error-exitcode=3", py, "-c", SANITIZED],
                          out, 600, env))
    sizes = ["large"] if args.quick else ["large", "base"]
    for size in sizes:
        lines.append(step(f"bert-{size}", [py, "samples/bench/bert_gpu.py", "--size", size, "--repeats",
                                           "10" if args.quick else "30", "--out", str(out / f"bert_{size}.json")],
                          out, 900, env))
    print("\n".join(lines))
    for name in ("pytest-gpu", *(f"bert-{s}" for s in sizes)):
        text = (out / f"{name}.txt").read_text()
        print(f"--- {name} (last lines)\n" + "\n".join(text.strip().splitlines()[-14:]))


if __name__ == "__main__":
    main()
