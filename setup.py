"""pip install --no-build-isolation .  (offline, in a venv made with --system-site-packages)

Builds the Python package pydmed_torch with the project's CMake tree (the torch-free core and the
pybind11 module only; scripts/install-deps.sh installs what it needs from Debian) and installs it
with libpydmed_core beside the module. Debian 12 has setuptools and pybind11 but no
scikit-build-core, hence this small build_ext.
"""
import glob
import os
import pathlib
import shutil
import subprocess
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

ROOT = pathlib.Path(__file__).resolve().parent


class CMakeBuild(build_ext):
    def build_extension(self, ext):
        package = pathlib.Path(self.get_ext_fullpath(ext.name)).resolve().parent
        build = pathlib.Path(self.build_temp).resolve() / "cmake"
        off = ["TORCH", "BUILD_TESTS", "BUILD_TOOLS", "BUILD_EXAMPLES", "BUILD_BENCHMARKS"]
        subprocess.run(["cmake", "-S", str(ROOT), "-B", str(build), "-DCMAKE_BUILD_TYPE=Release",
                        f"-DPYTHON_EXECUTABLE={sys.executable}"]
                       + [f"-DPYDMED_{'WITH_' if o == 'TORCH' else ''}{o}=OFF" for o in off], check=True)
        subprocess.run(["cmake", "--build", str(build), "-j", str(os.cpu_count() or 2), "--target", "_pydmed"],
                       check=True)
        package.mkdir(parents=True, exist_ok=True)
        built = build / "python" / "pydmed_torch"
        for f in glob.glob(str(built / "_pydmed*.so")) + [str(build / "pydmed_torch" / "libpydmed_core.so.0")]:
            shutil.copy2(f, package, follow_symlinks=True)  # the module finds the core beside it ($ORIGIN)


setup(
    name="pydmed_torch",
    version="0.1.0",
    description="Whole-slide images for training loops, from C++ process trees (no LibTorch linked)",
    packages=["pydmed_torch"],
    package_dir={"": "python"},
    package_data={"pydmed_torch": ["*.pyi", "py.typed"]},
    ext_modules=[Extension("pydmed_torch._pydmed", sources=[])],
    cmdclass={"build_ext": CMakeBuild},
    python_requires=">=3.9",
    install_requires=["numpy"],
    zip_safe=False,
)
