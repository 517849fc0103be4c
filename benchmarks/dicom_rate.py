#!/usr/bin/env python3
"""DICOM against TIFF on the same JPEG tiles: pydmed_bench's generated slides rewrapped by
`pydmed dicomize` (no re-encoding), then pydmed_bench (the loader, and bare BigChunk reads
through the registry's reader) on the TIFFs and on the DICOM series, alternating, each in its own
process. Prints one JSON object: each round's figures, the medians and the median ratios.

    /usr/bin/python3 benchmarks/dicom_rate.py --bench build/benchmarks/pydmed_bench --pydmed build/tools/pydmed
"""
import argparse
import json
import os
import statistics
import subprocess
import sys


def bench(args, slides):
    cmd = [args.bench, "--systems", "pydmed_torch,decode_bound", "--slides", slides, "--seconds", str(args.seconds),
           "--max-per-bigchunk", str(args.max_per_bigchunk), "--collectors", str(args.collectors)]
    out = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
    r = {x["system"]: x for x in out["results"]}
    return {"patches_per_s": r["pydmed_torch"]["patches_per_s"],
            "bigchunks_per_s_bare": r["decode_bound"]["bigchunks_per_s"]}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bench", default="build/benchmarks/pydmed_bench")
    p.add_argument("--pydmed", default="build/tools/pydmed")
    p.add_argument("--seconds", type=float, default=10)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--max-per-bigchunk", type=int, default=64)
    p.add_argument("--collectors", type=int, default=2)
    args = p.parse_args()
    tmp = os.environ.get("TMPDIR", "/tmp")
    tiffs = os.path.join(tmp, "pydmed_bench_slides")
    if not os.path.exists(os.path.join(tiffs, "manifest.csv")):  # pydmed_bench makes its slides on first use
        subprocess.run([args.bench, "--systems", "decode_bound", "--seconds", "1"], check=True, capture_output=True)
    dicoms = os.path.join(tmp, "pydmed_bench_dicom")
    for name in sorted(f for f in os.listdir(tiffs) if f.endswith(".tiff")):
        series = os.path.join(dicoms, name[:-5])
        if not os.path.isdir(series):
            subprocess.run([args.pydmed, "dicomize", os.path.join(tiffs, name), series, "--quiet"], check=True)
    runs = {"tiff": [], "dicom": []}
    for r in range(args.rounds):
        order = ("tiff", "dicom") if r % 2 == 0 else ("dicom", "tiff")
        for kind in order:
            runs[kind].append(bench(args, os.path.join(tiffs, "manifest.csv") if kind == "tiff" else dicoms))
        print(f"dicom_rate: round {r + 1}: " + ", ".join(f"{k} {runs[k][-1]}" for k in order), file=sys.stderr)
    med = {k: {m: statistics.median(x[m] for x in v) for m in v[0]} for k, v in runs.items()}
    ratio = {m: statistics.median(d[m] / t[m] for d, t in zip(runs["dicom"], runs["tiff"])) for m in runs["tiff"][0]}
    print(json.dumps({"workload": {k: v for k, v in vars(args).items() if k not in ("bench", "pydmed")},
                      "rounds": runs, "median": med, "dicom_vs_tiff": ratio}, indent=2))


if __name__ == "__main__":
    main()
