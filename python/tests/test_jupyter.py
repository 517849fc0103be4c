"""pydmed_torch in a Jupyter kernel (Debian's ipykernel, driven by jupyter_client as a notebook
front end drives it): a stream runs, and the kernel's interrupt (the notebook's stop button)
raises KeyboardInterrupt in the cell, ends the process tree and leaves the kernel usable."""
import queue
import subprocess

import pytest

jupyter_client = pytest.importorskip("jupyter_client")
pytest.importorskip("ipykernel")


def run_cell(kc, code, on_output=None):
    """Executes `code`; returns its stdout and its error name (None when it ran through)."""
    msg_id = kc.execute(code)
    out, error = [], None
    while True:
        try:
            msg = kc.get_iopub_msg(timeout=120)  # a hung kernel fails the test, not CI
        except queue.Empty:
            pytest.fail(f"the kernel went silent running {code!r}")
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        kind, content = msg["msg_type"], msg["content"]
        if kind == "stream":
            out.append(content["text"])
            if on_output:
                on_output(content["text"])
        elif kind == "error":
            error = content["ename"]
        elif kind == "status" and content["execution_state"] == "idle":
            return "".join(out), error


def test_a_stream_in_a_kernel_runs_and_stops_at_the_interrupt(sample_slides):
    km, kc = jupyter_client.manager.start_new_kernel(kernel_name="python3")
    try:
        out, error = run_cell(kc, "import os, pydmed_torch as pt\nprint(os.getpid())")
        assert error is None, out
        kernel_pid = int(out.split()[-1])
        out, error = run_cell(kc, f"print(sum(1 for _ in pt.stream({str(sample_slides)!r}, count=50, patch=64, "
                                  "bigchunk=512)))")
        assert (out.strip(), error) == ("50", None)

        interrupted = []

        def interrupt_once_streaming(text):
            if "streaming" in text and not interrupted:
                interrupted.append(True)
                km.interrupt_kernel()

        # Caught in the cell: Debian's IPython 8.5 fails to format a KeyboardInterrupt's traceback
        # on Python 3.11 (stack_data's "Expected one value, found 0"), whatever raised it.
        cell = (f"n = 0\ntry:\n    for image, info in pt.stream({str(sample_slides)!r}, seconds=120, patch=64, "
                "bigchunk=512):\n        n += 1\n        if n == 10: print('streaming', flush=True)\n"
                "except KeyboardInterrupt:\n    print('interrupted')\n")
        out, error = run_cell(kc, cell, interrupt_once_streaming)
        assert interrupted and error is None and out.split() == ["streaming", "interrupted"], out
        children = subprocess.run(["pgrep", "-P", str(kernel_pid)], capture_output=True, text=True).stdout.split()
        assert children == []  # the collectors and loaders are reaped before the cell ends
        out, error = run_cell(kc, "print(n >= 10, 6 * 7)")
        assert (out.strip(), error) == ("True 42", None)  # the kernel lives on
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
