#!/usr/bin/env python3
"""The Python face against pydmed_bench: the same workload through pydmed_bench's pydmed_torch
system (C++, LightDL) and through pydmed_torch.torch.StreamDataset in torch's DataLoader (the
consumer doing nothing but iterate), alternating, each in its own process. Prints one JSON
object: per limit per BigChunk, each round's patches/s, the medians and the median ratio.

    PYTHONPATH=build/python /usr/bin/python3 benchmarks/python_face.py --bench build/benchmarks/pydmed_bench
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

CONSUMER = r"""
import json, sys, time
import torch
from pydmed_torch.torch import StreamDataset
a = json.loads(sys.argv[1])
ds = StreamDataset(a["slides"], a["batch"], patch=a["patch"], bigchunk=a["bigchunk"], collectors=a["collectors"],
                   interval_resched=a["interval_resched"], max_per_bigchunk=a["max_per_bigchunk"], seed=a["seed"])
it = iter(torch.utils.data.DataLoader(ds, batch_size=None))
patches = len(next(it)[0])  # as pydmed_bench: the first batch counted, its wait not
start = time.monotonic()
while time.monotonic() - start < a["seconds"]:
    patches += len(next(it)[0])
print(json.dumps({"patches_per_s": patches / (time.monotonic() - start)}))
"""


def cpp_rate(args, limit):
    cmd = [args.bench, "--systems", "pydmed_torch", "--slides", args.slides, "--seconds", str(args.seconds),
           "--patch", str(args.patch), "--bigchunk", str(args.bigchunk), "--collectors", str(args.collectors),
           "--batch", str(args.batch), "--interval-resched", str(args.interval_resched),
           "--max-per-bigchunk", str(limit), "--seed", str(args.seed)]
    out = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
    return out["results"][0]["patches_per_s"]


def python_rate(args, limit):
    a = dict(vars(args), max_per_bigchunk=limit)
    out = subprocess.run([sys.executable, "-c", CONSUMER, json.dumps(a)], check=True, capture_output=True, text=True)
    return json.loads(out.stdout)["patches_per_s"]


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bench", default="build/benchmarks/pydmed_bench")
    p.add_argument("--slides", default=os.path.join(os.environ.get("TMPDIR", "/tmp"), "pydmed_bench_slides", "manifest.csv"),
                   help="a manifest or folder (default: pydmed_bench's generated slides, made by it if absent)")
    p.add_argument("--seconds", type=float, default=10)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--limits", default="0,256", help="max_per_bigchunk values, comma-separated (0: no limit)")
    p.add_argument("--patch", type=int, default=224)
    p.add_argument("--bigchunk", type=int, default=2048)
    p.add_argument("--collectors", type=int, default=2)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--interval-resched", type=float, default=5)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    if not os.path.exists(args.slides):  # pydmed_bench makes its sample slides on first use
        subprocess.run([args.bench, "--systems", "pydmed_torch", "--seconds", "1"], check=True, capture_output=True)
    results = []
    for limit in (int(x) for x in args.limits.split(",")):
        cpp, py = [], []
        for r in range(args.rounds):  # alternating, the order flipped each round
            first, second = (cpp_rate, python_rate) if r % 2 == 0 else (python_rate, cpp_rate)
            a, b = first(args, limit), second(args, limit)
            (cpp if first is cpp_rate else py).append(a)
            (py if first is cpp_rate else cpp).append(b)
            print(f"python_face: max_per_bigchunk {limit} round {r + 1}: C++ {cpp[-1]:.0f}, Python {py[-1]:.0f} patches/s",
                  file=sys.stderr)
        results.append({"max_per_bigchunk": limit, "cpp_patches_per_s": cpp, "python_patches_per_s": py,
                        "median_cpp": statistics.median(cpp), "median_python": statistics.median(py),
                        "python_vs_cpp": statistics.median(q / c for q, c in zip(py, cpp))})
    workload = {k: v for k, v in vars(args).items() if k not in ("bench", "limits")}
    print(json.dumps({"workload": workload, "results": results}, indent=2))


if __name__ == "__main__":
    main()
