"""Slides by URL (http, https, s3) against a loopback object store that checks SigV4 signatures
and counts the bytes it sends (tests/tools/object_server.py): what is read equals the local files,
the disk cache serves later runs, and every failure is one line naming the URL."""
import contextlib
import json
import os
import pathlib
import shutil
import subprocess
import sys
import time
import urllib.request

import numpy as np
import pytest

import pydmed_torch as pt
from conftest import CLI

SERVER = pathlib.Path(__file__).resolve().parents[2] / "tests" / "tools" / "object_server.py"
KEY, SECRET = "AKIDPYDMEDTEST", "pydmed/test+secret"


class Store:
    """The object server in a process of its own, on a free port; stopped by close()."""

    def __init__(self, root, *args):
        self.proc = subprocess.Popen([sys.executable, str(SERVER), "--root", str(root), *args],
                                     stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        assert line.startswith("PORT "), line
        self.port = int(line.split()[1])
        self.url = f"http://127.0.0.1:{self.port}"

    def get(self, path):
        with urllib.request.urlopen(self.url + path, timeout=30) as r:
            return json.loads(r.read())

    def stats(self):
        return self.get("/__stats")

    def reset(self):
        self.get("/__reset")

    def fault(self, mode, count):
        self.get(f"/__fault?mode={mode}&count={count}")

    def close(self):
        self.proc.kill()
        self.proc.wait()


@contextlib.contextmanager
def store(root, *args):
    s = Store(root, *args)
    try:
        yield s
    finally:
        s.close()


def s3_env(s, secret=SECRET):
    env = dict(os.environ, AWS_ACCESS_KEY_ID=KEY, AWS_SECRET_ACCESS_KEY=secret, AWS_ENDPOINT_URL=s.url,
               AWS_REGION="eu-west-3", PYDMED_REMOTE_STALL_SECONDS="3")
    env.pop("AWS_SESSION_TOKEN", None)
    return env


def run(env, *args, timeout=180):
    return subprocess.run([CLI, *args], env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def bucket(tmp_path, wsi, sample_slides):
    """bucket/wsi/<the real slides>, bucket/gen/<sample slides>: links, served as objects."""
    root = tmp_path / "objects"
    (root / "bucket" / "wsi").mkdir(parents=True)
    (root / "bucket" / "gen").mkdir()
    for f in sorted(wsi.iterdir()):
        if f.suffix in (".svs", ".tiff", ".ndpi"):
            (root / "bucket" / "wsi" / f.name).symlink_to(f)
    for f in sorted(sample_slides.glob("*.tiff")):
        (root / "bucket" / "gen" / f.name).symlink_to(f)
    return root


def assert_same_slide(a, b):
    assert a.level_dimensions == b.level_dimensions
    assert a.properties == b.properties
    assert sorted(a.associated_images) == sorted(b.associated_images)
    for level, (w, h) in enumerate(b.level_dimensions):
        for x, y in [(0, 0), (w // 3, h // 2), (max(0, w - 300), max(0, h - 200))]:
            loc = (int(x * b.level_downsamples[level]), int(y * b.level_downsamples[level]))
            assert np.array_equal(a.read_region(loc, level, (300, 200)), b.read_region(loc, level, (300, 200)))


def test_signed_s3_reads_equal_the_local_files(bucket, wsi, monkeypatch):
    with store(bucket, "--access-key", KEY, "--secret-key", SECRET) as s:
        for k, v in s3_env(s).items():
            monkeypatch.setenv(k, v)
        for f in sorted((bucket / "bucket" / "wsi").iterdir()):
            remote = pt.Slide(f"s3://bucket/wsi/{f.name}")
            local = pt.Slide(str(wsi / f.name))
            assert remote.reader == local.reader  # the tile reader by range; NDPI through a whole copy
            assert_same_slide(remote, local)
        stats = s.stats()
        assert stats["requests"] == stats["signed"] > 0  # every object request was signed and checked


def test_a_presigned_query_never_appears_in_outputs(bucket, wsi, tmp_path):
    """http(s) URLs go unsigned, as given; their query (a presigned signature) is never shown."""
    with store(bucket) as s:
        env = dict(os.environ, PYDMED_REMOTE_STALL_SECONDS="3")
        url = f"{s.url}/bucket/wsi/CMU-1-Small-Region.svs?X-Amz-Signature=S3CR3T&X-Amz-Credential=AKIDSECRET"
        info = run(env, "info", url)
        assert info.returncode == 0, info.stderr
        assert json.loads(info.stdout)["path"] == f"{s.url}/bucket/wsi/CMU-1-Small-Region.svs"
        manifest = tmp_path / "m.csv"
        manifest.write_text(f"patient_id,record:wsi\n0,{url}\n1,{s.url}/bucket/wsi/missing.svs?X-Amz-Signature=S3CR3T\n")
        out, state = tmp_path / "w.tsv", tmp_path / "w.state"
        r = run(env, "sliding-window", str(manifest), "--kernel", "512", "--stride", "512", "--out", str(out),
                "--state", str(state), "--quiet")
        everything = r.stdout + r.stderr + out.read_text() + state.read_text()
        assert "S3CR3T" not in everything and "AKIDSECRET" not in everything
        assert "missing.svs" in r.stderr and "NoSuchKey" in r.stderr  # the patient set aside, said in one line
        local = run(env, "sliding-window", str(wsi / "CMU-1-Small-Region.svs"), "--kernel", "512", "--stride", "512",
                    "--quiet")
        crc = lambda text: sorted(l.split("\t")[11] for l in text.splitlines()[1:])
        assert crc(out.read_text()) == crc(local.stdout)  # every window, the same pixels


def test_the_loader_over_urls_serves_the_local_pixels(bucket, sample_slides, tmp_path):
    """sliding-window through the loader's processes (forked: their own connections and cache)."""
    with store(bucket, "--access-key", KEY, "--secret-key", SECRET, "--delay-ms", "5") as s:
        manifest = tmp_path / "urls.csv"
        manifest.write_text("patient_id,record:wsi\n" + "".join(
            f"{i},s3://bucket/gen/{f.name}\n" for i, f in enumerate(sorted(sample_slides.glob("*.tiff")))))
        remote = run(s3_env(s), "sliding-window", str(manifest), "--quiet", "--collectors", "2")
        local = run(s3_env(s), "sliding-window", str(sample_slides / "manifest.csv"), "--quiet", "--collectors", "2")
        assert remote.returncode == 0 and local.returncode == 0, remote.stderr
        assert sorted(remote.stdout.splitlines()) == sorted(local.stdout.splitlines())
        streamed = run(s3_env(s), "stream", str(manifest), "--count", "300", "--max-per-bigchunk", "16", "--quiet")
        assert streamed.returncode == 0, streamed.stderr
        assert len(streamed.stdout.splitlines()) == 301


def test_an_s3_prefix_is_a_folder_source(bucket, wsi, tmp_path):
    with store(bucket, "--access-key", KEY, "--secret-key", SECRET, "--page-size", "2") as s:  # listing in pages
        env = s3_env(s)
        r = run(env, "sliding-window", "s3://bucket/wsi/", "--kernel", "1024", "--stride", "1024", "--quiet")
        assert r.returncode == 0, r.stderr
        patients = {l.split("\t")[0] for l in r.stdout.splitlines()[1:]}
        assert len(patients) == len(list((bucket / "bucket" / "wsi").iterdir()))


def test_the_python_face_streams_the_local_patches_from_urls(bucket, sample_slides, tmp_path, monkeypatch):
    """stream() over a manifest of URLs, its collectors forked after set_remote_options: the same
    patches, in the same order, as over the files (one collector, no timed swap: a fixed order)."""
    with store(bucket, "--access-key", KEY, "--secret-key", SECRET, "--delay-ms", "2") as s:
        for k, v in s3_env(s).items():
            monkeypatch.setenv(k, v)
        pt.set_remote_options(cache=tmp_path / "cache", cache_size="1G")
        try:
            manifest = tmp_path / "urls.csv"
            manifest.write_text("patient_id,record:wsi\n" + "".join(
                f"{i},s3://bucket/gen/{f.name}\n" for i, f in enumerate(sorted(sample_slides.glob("*.tiff")))))
            opts = dict(patch=64, bigchunk=512, collectors=1, seed=5, max_per_bigchunk=40, interval_resched=1e5,
                        count=200, crc32=True)
            key = lambda i: (i["patient"], i["x"], i["y"], i["crc32"])
            remote = [key(info) for _, info in pt.stream(str(manifest), **opts)]
            local = [key(info) for _, info in pt.stream(str(sample_slides / "manifest.csv"), **opts)]
            assert remote == local and len(remote) == 200
            assert any(f.name.endswith(".data") for f in (tmp_path / "cache").iterdir())  # the collectors wrote it
            with pytest.raises(pt.OptionsError, match="cache_size"):
                pt.set_remote_options(cache_size="lots")
        finally:
            pt.set_remote_options(cache="")


def test_a_dicom_series_under_a_prefix(bucket, wsi, tmp_path, monkeypatch):
    series = bucket / "bucket" / "series" / "CMU-1"
    subprocess.run([CLI, "dicomize", str(wsi / "CMU-1-Small-Region.svs"), str(series)], check=True, capture_output=True)
    with store(bucket, "--access-key", KEY, "--secret-key", SECRET) as s:
        for k, v in s3_env(s).items():
            monkeypatch.setenv(k, v)
        remote = pt.Slide("s3://bucket/series/CMU-1/")
        assert remote.reader == "dicom"
        local = pt.Slide(str(series))
        assert_same_slide(remote, local)


def test_the_disk_cache_serves_later_runs(bucket, tmp_path):
    cache = tmp_path / "cache"
    with store(bucket, "--access-key", KEY, "--secret-key", SECRET) as s:
        env = s3_env(s)
        args = ["read", "s3://bucket/wsi/CMU-1-Small-Region-pyramid.tiff", "--x", "300", "--y", "400", "--width",
                "900", "--height", "700", "--cache", str(cache), "--cache-size", "64M"]
        first = run(env, *args, "--out", str(tmp_path / "a.png"))
        assert first.returncode == 0, first.stderr
        fetched = s.stats()["bytes"]
        s.reset()
        second = run(env, *args, "--out", str(tmp_path / "b.png"))
        assert second.returncode == 0, second.stderr
        assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()
        assert s.stats()["bytes"] <= 64 * 1024 < fetched  # only the opening request, which checks the ETag
        assert oct(cache.stat().st_mode & 0o777) == "0o700"
        assert all(oct(f.stat().st_mode & 0o777) == "0o600" for f in cache.iterdir())
        # A cached block whose bytes changed on disk is fetched again, never used.
        for data in cache.glob("*.data"):
            with open(data, "r+b") as f:
                blob = bytearray(f.read())
                for i in range(0, len(blob), 4096):
                    blob[i] ^= 0xFF
                f.seek(0)
                f.write(blob)
        s.reset()
        third = run(env, *args, "--out", str(tmp_path / "c.png"))
        assert third.returncode == 0, third.stderr
        assert (tmp_path / "c.png").read_bytes() == (tmp_path / "a.png").read_bytes()
        assert s.stats()["bytes"] > 64 * 1024


def test_reads_larger_than_the_memory_cache(bucket, wsi, tmp_path):
    """A region whose tiles (1.9 MB) exceed the process's block cache (512 KiB here) still reads whole."""
    with store(bucket, "--access-key", KEY, "--secret-key", SECRET) as s:
        env = dict(s3_env(s), PYDMED_REMOTE_MEMORY="512K")
        args = ["--x", "0", "--y", "0", "--width", "2220", "--height", "2967"]
        remote = run(env, "read", "s3://bucket/wsi/CMU-1-Small-Region.svs", *args, "--out", str(tmp_path / "r.rgb"))
        assert remote.returncode == 0, remote.stderr
        local = run(env, "read", str(wsi / "CMU-1-Small-Region.svs"), *args, "--out", str(tmp_path / "l.rgb"))
        assert local.returncode == 0, local.stderr
        assert (tmp_path / "r.rgb").read_bytes() == (tmp_path / "l.rgb").read_bytes()


def test_failures_are_one_line_naming_the_url(bucket, tmp_path):
    with store(bucket, "--access-key", KEY, "--secret-key", SECRET) as s:
        url = "s3://bucket/wsi/CMU-1-Small-Region.svs"

        def one_line(r, *words):
            assert r.returncode != 0
            lines = r.stderr.strip().splitlines()
            assert len(lines) == 1 and url.rsplit("/", 1)[0] in lines[0], r.stderr
            for w in words:
                assert w in lines[0], r.stderr
            assert SECRET not in r.stderr

        one_line(run(s3_env(s, secret="wrong"), "info", url), "403", "SignatureDoesNotMatch")
        one_line(run(dict(s3_env(s), AWS_ACCESS_KEY_ID="NOBODY"), "info", url), "InvalidAccessKeyId")
        one_line(run(s3_env(s), "info", url.replace("CMU-1", "NOPE")), "404", "NoSuchKey")
        one_line(run(s3_env(s), "info", "s3://bucket/wsi/slide.mrxs"), "several files")
        s.fault("500", 2)  # two 500s: retried, then read
        assert run(s3_env(s), "info", url).returncode == 0
        s.fault("truncate", 1)  # a reply cut short: retried
        assert run(s3_env(s), "info", url).returncode == 0
        s.fault("500", 100)
        one_line(run(dict(s3_env(s), PYDMED_REMOTE_TRIES="3"), "info", url), "InternalError", "after 3 tries")
        s.fault("hang", 1)  # a server that stops answering: timed out after PYDMED_REMOTE_STALL_SECONDS, retried
        assert run(s3_env(s), "info", url, timeout=60).returncode == 0
        s.fault("500", 0)


def test_a_server_that_stops_mid_run(bucket, tmp_path):
    big = bucket / "bucket" / "big"
    subprocess.run([CLI, "make-sample-slides", str(big), "--count", "1", "--size", "8192", "--quiet"], check=True,
                   capture_output=True)
    s = Store(bucket, "--access-key", KEY, "--secret-key", SECRET, "--delay-ms", "50")
    manifest = tmp_path / "urls.csv"
    manifest.write_text("patient_id,record:wsi\n0,s3://bucket/big/slide_000.tiff\n")
    env = dict(s3_env(s), PYDMED_REMOTE_TRIES="2", PYDMED_REMOTE_STALL_SECONDS="2")
    proc = subprocess.Popen([CLI, "sliding-window", str(manifest), "--kernel", "128", "--stride", "128", "--quiet",
                             "--out", str(tmp_path / "w.tsv")], env=env, stderr=subprocess.PIPE, text=True)
    while s.stats()["requests"] < 6:  # opened, and some BigChunks on their way
        assert proc.poll() is None, proc.stderr.read()
        time.sleep(0.02)
    s.close()
    _, err = proc.communicate(timeout=240)  # nothing hangs
    assert proc.returncode != 0
    assert "s3://bucket/big/slide_000.tiff" in err and SECRET not in err
    assert subprocess.run(["pgrep", "-f", str(manifest)], capture_output=True).returncode == 1  # no process left
