"""Where the tests find the real slides and the command-line tool (set by CTest)."""
import os
import pathlib

import pytest

WSI = pathlib.Path(os.environ.get("PYDMED_WSI_DIR", pathlib.Path(__file__).resolve().parents[3] / "shared" / "wsi"))
CLI = os.environ.get("PYDMED_CLI", "pydmed")


@pytest.fixture
def wsi():
    if not WSI.is_dir():
        if os.environ.get("PYDMED_REQUIRE_WSI"):
            pytest.fail(f"no real slides in {WSI}")
        pytest.skip(f"no real slides in {WSI}")
    return WSI


@pytest.fixture
def sample_slides(tmp_path):
    """Two of the project's own sample slides (pydmed make-sample-slides)."""
    import subprocess

    subprocess.run([CLI, "make-sample-slides", str(tmp_path / "s"), "--count", "2", "--size", "2048", "--quiet"],
                   check=True, capture_output=True)
    return tmp_path / "s"
