"""pydmed_torch.stream and sliding_window: the same patches as the command line (the same
options, the same seed), pixels as Slide.read_region reads them, one-line errors, and Ctrl-C."""
import csv
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import pydmed_torch as pt
from conftest import CLI


def tsv(path):
    with open(path) as f:
        return list(csv.DictReader(f, delimiter="\t"))


def test_stream_is_the_command_lines_stream(sample_slides, tmp_path):
    # No timed swap in either run (the order of patches would then depend on the clock).
    opts = dict(patch=64, bigchunk=512, collectors=1, seed=5, max_per_bigchunk=40, interval_resched=1e5)
    out = tmp_path / "s.tsv"
    subprocess.run([CLI, "stream", str(sample_slides), "--patch", "64", "--bigchunk", "512", "--collectors", "1",
                    "--seed", "5", "--max-per-bigchunk", "40", "--interval-resched", "100000", "--count", "200", "--out", str(out), "--quiet"],
                   check=True, capture_output=True)
    want = tsv(out)
    got = list(pt.stream(str(sample_slides), count=200, crc32=True, **opts))
    assert len(got) == len(want) == 200
    slides = {}
    for (image, info), row in zip(got, want):
        for key, value in row.items():
            have = info[key]
            assert str("" if have is None else have) == value, key
        assert info["path"].endswith(".tiff")
        s = slides.setdefault(info["path"], pt.Slide(info["path"]))
        np.testing.assert_array_equal(image, s.read_region((info["x"], info["y"]), info["level"], (64, 64)))


def test_sliding_window_gives_every_window_once_as_read(sample_slides):
    seen = set()
    slides = {}
    for image, info in pt.sliding_window(str(sample_slides), kernel=256, stride=256):
        key = (info["patient"], info["x"], info["y"])
        assert key not in seen
        seen.add(key)
        s = slides.setdefault(info["path"], pt.Slide(info["path"]))
        np.testing.assert_array_equal(image, s.read_region((info["x"], info["y"]), 0, (256, 256)))
    assert len(seen) == 2 * (2048 // 256) ** 2


@pytest.mark.parametrize("kwargs, message", [
    (dict(patch="64"), "option patch: must be an integer, not str"),
    (dict(pach=64), "option pach: is not an option of stream"),
    (dict(min_tissue=1.5), "option min_tissue: must be between 0 and 1"),
    (dict(patch=512, bigchunk=256), "option patch: 512 is larger than bigchunk 256"),
    (dict(roi="inside"), "roi"),
])
def test_bad_options_are_one_line_options_errors(sample_slides, kwargs, message):
    with pytest.raises(pt.OptionsError, match=message) as e:
        pt.stream(str(sample_slides), count=1, **kwargs)
    assert isinstance(e.value, ValueError) and "\n" not in str(e.value)


def test_a_missing_source_is_one_line(tmp_path):
    with pytest.raises(pt.Error, match="nothing_here"):
        pt.stream(str(tmp_path / "nothing_here"), count=1)


def test_a_source_whose_slides_all_fail_says_why(tmp_path):
    (tmp_path / "bad.svs").write_bytes(b"II*\0" + b"\0" * 400)  # a TIFF header and nothing else
    (tmp_path / "m.csv").write_text(f"patient_id,record:wsi\n0,{tmp_path}/bad.svs\n")
    with pytest.raises(pt.Error, match="bad.svs"):
        list(pt.stream(str(tmp_path / "m.csv"), count=5, patch=64, bigchunk=512))


def test_errors_are_also_pydmed_errors():
    assert issubclass(pt.SlideError, OSError) and issubclass(pt.SlideError, pt.Error)
    assert issubclass(pt.OptionsError, ValueError) and issubclass(pt.DatasetError, pt.Error)


def test_ctrl_c_raises_keyboardinterrupt_and_ends_the_tree(sample_slides, tmp_path):
    script = tmp_path / "consumer_ctrl_c.py"
    script.write_text(textwrap.dedent(f"""
        import sys, time
        import pydmed_torch as pt
        n = 0
        try:
            for image, info in pt.stream({str(sample_slides)!r}, seconds=60, patch=64, bigchunk=512):
                n += 1
                if n == 10:
                    print("streaming", flush=True)
                time.sleep(0.001)
        except KeyboardInterrupt:
            print("interrupted", n >= 10, flush=True)
            sys.exit(3)
    """))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    p = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True, env=env)
    watchdog = __import__("threading").Timer(60, p.kill)  # a hung consumer fails the test, not CI
    watchdog.start()
    assert p.stdout.readline().strip() == "streaming"
    watchdog.cancel()
    p.send_signal(signal.SIGINT)
    out, _ = p.communicate(timeout=30)
    assert p.returncode == 3 and "interrupted True" in out
    # No collector or loader left: they are forked from the consumer, with its command line.
    time.sleep(0.5)
    left = subprocess.run(["pgrep", "-f", str(script)], capture_output=True, text=True).stdout.split()
    assert left == []
