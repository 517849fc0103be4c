#!/usr/bin/env python3
"""Slides by URL against the same slides on disk: pydmed_bench's loader (8 generated 10000-px
slides, 224-px patches, 2048-px BigChunks, 2 collectors) over a manifest of s3:// URLs served by
the loopback object store (tests/tools/object_server.py, SigV4 checked) with a delay injected per
request, and over the manifest on disk, alternating, each in its own process. Also the bytes the
store sent against the compressed bytes of the tiles the BigChunks read (PYDMED_REMOTE_STATS).
Prints one JSON object: each round's figures, medians and median ratios per delay.

    /usr/bin/python3 benchmarks/remote_rate.py --bench build/benchmarks/pydmed_bench
"""
import argparse
import collections
import json
import os
import statistics
import subprocess
import sys
import tempfile
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
SERVER = os.path.join(HERE, "..", "tests", "tools", "object_server.py")


def bench(args, slides, env):
    cmd = [args.bench, "--systems", "pydmed_torch", "--slides", slides, "--seconds", str(args.seconds),
           "--max-per-bigchunk", str(args.max_per_bigchunk), "--collectors", str(args.collectors)]
    out = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout)
    return out["results"][0]["patches_per_s"]


def stats(url):
    with urllib.request.urlopen(url + "/__stats") as r:
        return json.loads(r.read())


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bench", default="build/benchmarks/pydmed_bench")
    p.add_argument("--seconds", type=float, default=10)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--delays", default="0,10,30,100")
    p.add_argument("--max-per-bigchunk", type=int, default=256)
    p.add_argument("--collectors", type=int, default=2)
    p.add_argument("--slides", default="", help="a folder of slides with its manifest.csv (default: "
                   "pydmed_bench's generated ones); pydmed make-sample-slides DIR --size 40000 makes slides "
                   "larger than a process's block cache, as real ones are")
    p.add_argument("--memory", default="", help="each process's block cache (PYDMED_REMOTE_MEMORY), e.g. 16M: "
                   "smaller than the cohort, as real slides are, so bytes are fetched again rather than reused")
    args = p.parse_args()
    tmp = os.environ.get("TMPDIR", "/tmp")
    slides = os.path.abspath(args.slides) if args.slides else os.path.join(tmp, "pydmed_bench_slides")
    if not args.slides and not os.path.exists(os.path.join(slides, "manifest.csv")):  # pydmed_bench makes its slides on first use
        subprocess.run([args.bench, "--systems", "decode_bound", "--seconds", "1"], check=True, capture_output=True)
    work = tempfile.mkdtemp(prefix="pydmed-remote-bench-")
    os.makedirs(os.path.join(work, "store", "bucket"))
    os.symlink(slides, os.path.join(work, "store", "bucket", "slides"))
    names = sorted(f for f in os.listdir(slides) if f.endswith(".tiff"))
    manifest = os.path.join(work, "urls.csv")
    with open(manifest, "w") as f:
        f.write("patient_id,record:wsi\n" + "".join(f"{i},s3://bucket/slides/{n}\n" for i, n in enumerate(names)))
    result = {"workload": {"slides": len(names), "folder": slides, "seconds": args.seconds, "rounds": args.rounds,
                           "max_per_bigchunk": args.max_per_bigchunk, "collectors": args.collectors,
                           "memory_cache": args.memory or "256M"},
              "delays": {}}
    for delay in [float(d) for d in args.delays.split(",")]:
        server = subprocess.Popen([sys.executable, SERVER, "--root", os.path.join(work, "store"), "--delay-ms",
                                   str(delay), "--access-key", "AKIDBENCH", "--secret-key", "bench-secret"],
                                  stdout=subprocess.PIPE, text=True)
        url = "http://127.0.0.1:%s" % server.stdout.readline().split()[1]
        env = dict(os.environ, AWS_ACCESS_KEY_ID="AKIDBENCH", AWS_SECRET_ACCESS_KEY="bench-secret",
                   AWS_ENDPOINT_URL=url)
        if args.memory:
            env["PYDMED_REMOTE_MEMORY"] = args.memory
        rounds = []
        try:
            for _ in range(args.rounds):
                statfile = os.path.join(work, "stats-%g.txt" % delay)
                if os.path.exists(statfile):
                    os.unlink(statfile)
                local = bench(args, os.path.join(slides, "manifest.csv"), env)
                before = stats(url)["bytes"]
                remote = bench(args, manifest, dict(env, PYDMED_REMOTE_STATS=statfile))
                sent = stats(url)["bytes"] - before
                last = collections.OrderedDict()
                with open(statfile) as f:
                    for line in f:
                        pid, needed, received = line.split()
                        last[pid] = (int(needed), int(received))
                needed = sum(v[0] for v in last.values())
                rounds.append({"local_patches_per_s": local, "url_patches_per_s": remote, "ratio": remote / local,
                               "bytes_sent": sent, "tile_bytes_read": needed, "sent_per_tile_byte": sent / needed})
                print(json.dumps({"delay_ms": delay, **rounds[-1]}), file=sys.stderr)
        finally:
            server.kill()
        med = lambda k: statistics.median(r[k] for r in rounds)
        result["delays"]["%g" % delay] = {"rounds": rounds, "median_local": med("local_patches_per_s"),
                                          "median_url": med("url_patches_per_s"), "median_ratio": med("ratio"),
                                          "median_sent_per_tile_byte": med("sent_per_tile_byte")}
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
