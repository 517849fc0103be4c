#!/usr/bin/env bash
# Runs ON the GPU machine, from the repository root: probes the machine, unpacks .gpu/deps.tar.xz
# (made by scripts/gpu/make-bundle.sh: Debian bookworm's OpenSlide, OpenCV, libtiff, ... as a
# prefix tree) into /opt/deb, configures build-gpu/ against that bundle and pip's LibTorch (CUDA),
# builds, and checks that the built programs find all their libraries. Runs no tests.
#
# Usage:  bash scripts/gpu/build-on-device.sh [target ...]      (default: all targets)
# Then:   source /opt/deb/env.sh && cd build-gpu && ctest ...   (library path, CMake hints, and
#         linker flags for the nested configure of the install_and_consume test)
# Logs go to $OUT/build-on-device.log when OUT is set (plus CMake's logs on failure).
#
# Overrides (environment): PYDMED_DEB_PREFIX (/opt/deb), PYDMED_BUILD_DIR (build-gpu),
# PYDMED_PYTHON (/opt/torch/.venv/bin/python3), PYDMED_TORCH_CMAKE_DIR (the directory holding
# Torch/TorchConfig.cmake; default from the python's torch.utils.cmake_prefix_path),
# CUDA_HOME (the CUDA toolkit; default: nvcc on PATH, /usr/local/cuda), PYDMED_NO_CUDA=1 (no
# CUDA hints: a CPU LibTorch), PYDMED_WSI_DIR (test slides), PYDMED_CXX_STANDARD,
# PYDMED_CMAKE_ARGS (extra configure arguments), PYDMED_CONFIGURE_ONLY=1, PYDMED_JOBS (16).
set -euo pipefail
cd "$(dirname "$0")/../.."
SRC=$PWD
BUNDLE=$SRC/.gpu/deps.tar.xz
PREFIX=${PYDMED_DEB_PREFIX:-/opt/deb}
BUILD=${PYDMED_BUILD_DIR:-build-gpu}
PY=${PYDMED_PYTHON:-/opt/torch/.venv/bin/python3}
JOBS=${PYDMED_JOBS:-16}
ARCH=x86_64-linux-gnu
TARGETS=("$@")

if [ -n "${OUT:-}" ]; then
  mkdir -p "$OUT"
  exec > >(tee -a "$OUT/build-on-device.log") 2>&1
fi
STAGE=start
# shellcheck disable=SC2154  # rc is set inside the trap
trap 'rc=$?; echo; echo "build-on-device: FAILED in stage [$STAGE] (exit $rc)"; exit $rc' ERR
stage() { STAGE=$1; echo; echo "=== [$STAGE] $(date -u +%H:%M:%S)"; }
fail() { echo "build-on-device: FAILED in stage [$STAGE]: $*" >&2; exit 1; }
have() { command -v "$1" >/dev/null 2>&1; }
VENV_BIN=$(dirname "$PY")

# ---------------------------------------------------------------------------------------------
stage probe
( . /etc/os-release 2>/dev/null && echo "os: ${PRETTY_NAME:-?}" ) || echo "os: ?"
echo "arch: $(uname -m)   cpus: $(nproc)   glibc: $(ldd --version 2>&1 | head -1)"
[ "$(uname -m)" = x86_64 ] || fail "the bundle is for x86-64"
for t in gcc g++ c++ cmake ninja make nvcc nvidia-smi pkg-config xz; do
  printf '%-11s %s\n' "$t:" "$(command -v "$t" 2>/dev/null || echo '-')"
done
have g++ || have c++ || fail "no C++ compiler (g++) on this machine"
g++ --version 2>/dev/null | head -1 || true
CMAKE=$(command -v cmake || true)
[ -n "$CMAKE" ] || { [ -x "$VENV_BIN/cmake" ] && CMAKE=$VENV_BIN/cmake; } || true
[ -n "$CMAKE" ] || fail "no cmake (looked on PATH and in $VENV_BIN)"
"$CMAKE" --version | head -1 || true
NINJA=$(command -v ninja || true)
[ -n "$NINJA" ] || { [ -x "$VENV_BIN/ninja" ] && NINJA=$VENV_BIN/ninja; } || true
[ -n "$NINJA" ] && echo "ninja $("$NINJA" --version)" || echo "ninja: none, using Unix Makefiles"
nvidia-smi -L 2>&1 || echo "nvidia-smi failed"

if [ -n "${PYDMED_TORCH_CMAKE_DIR:-}" ]; then
  TORCH_CMAKE=$PYDMED_TORCH_CMAKE_DIR
else
  [ -x "$PY" ] || PY=$(command -v python3 || true)
  [ -n "$PY" ] || fail "no python to ask for torch.utils.cmake_prefix_path (set PYDMED_PYTHON)"
  "$PY" - <<'PYEOF' || fail "python cannot import torch: $PY"
import sys, torch
print("python", sys.version.split()[0], "| torch", torch.__version__, "| cuda", torch.version.cuda,
      "| cxx11 abi", torch._C._GLIBCXX_USE_CXX11_ABI, "| cuda available", torch.cuda.is_available())
print("cmake_prefix_path", torch.utils.cmake_prefix_path)
PYEOF
  TORCH_CMAKE=$("$PY" -c 'import torch; print(torch.utils.cmake_prefix_path)')
  # torch >= 2.12's headers refuse C++17 (#error unless C++20); CMakeLists.txt pins 17.
  if "$PY" -c 'import sys, torch; sys.exit(tuple(map(int, torch.__version__.split(".")[:2])) < (2, 12))'; then
    echo "WARNING: this torch wants C++20; passing -DCMAKE_CXX_STANDARD=20, which CMakeLists.txt"
    echo "         honours only with: if(NOT DEFINED CMAKE_CXX_STANDARD) set(CMAKE_CXX_STANDARD 17) endif()"
    PYDMED_CXX_STANDARD=${PYDMED_CXX_STANDARD:-20}
  fi
fi
[ -f "$TORCH_CMAKE/Torch/TorchConfig.cmake" ] || fail "no Torch/TorchConfig.cmake under $TORCH_CMAKE"

CUDA_ROOT=""
if [ -z "${PYDMED_NO_CUDA:-}" ]; then
  CUDA_ROOT=${CUDA_HOME:-${CUDA_PATH:-}}
  if [ -z "$CUDA_ROOT" ] && have nvcc; then CUDA_ROOT=$(dirname "$(dirname "$(readlink -f "$(command -v nvcc)")")"); fi
  if [ -z "$CUDA_ROOT" ] && [ -x /usr/local/cuda/bin/nvcc ]; then CUDA_ROOT=/usr/local/cuda; fi
  if [ -z "$CUDA_ROOT" ]; then
    CUDA_ROOT=$(ls -d /usr/local/cuda-*/ 2>/dev/null | sort -V | tail -1 | sed 's:/$::' || true)
  fi
  if [ -n "$CUDA_ROOT" ] && [ -x "$CUDA_ROOT/bin/nvcc" ]; then
    echo "cuda toolkit: $CUDA_ROOT ($("$CUDA_ROOT/bin/nvcc" --version | grep -o 'release [0-9.]*' || true))"
  else
    echo "WARNING: no CUDA toolkit (nvcc) found; pip torch's CMake files need one (set CUDA_HOME)"
    CUDA_ROOT=""
  fi
fi

# ---------------------------------------------------------------------------------------------
stage unpack
[ -f "$BUNDLE" ] || fail "$BUNDLE is missing: run scripts/gpu/make-bundle.sh and send .gpu (carry)"
if ! mkdir -p "$PREFIX" 2>/dev/null || [ ! -w "$PREFIX" ]; then
  if [ "$(id -u)" != 0 ] && have sudo && sudo -n true 2>/dev/null; then
    sudo mkdir -p "$PREFIX" && sudo chown "$(id -u):$(id -g)" "$PREFIX"
  else
    # Everything in the bundle is relocatable; only the env.sh written below names the prefix.
    PREFIX=$SRC/.gpu/deb
    echo "note: cannot write ${PYDMED_DEB_PREFIX:-/opt/deb}; using $PREFIX instead"
    mkdir -p "$PREFIX"
  fi
fi
sum=$(sha256sum "$BUNDLE" | cut -d' ' -f1)
if [ "$(cat "$PREFIX/.bundle-sha256" 2>/dev/null)" != "$sum" ]; then
  find "$PREFIX" -mindepth 1 -maxdepth 1 -exec rm -rf {} +
  if have xz; then
    tar -xJf "$BUNDLE" -C "$PREFIX"
  else  # no xz(1): Python's lzma does it
    py=$(for p in "$PY" python3; do have "$p" && { echo "$p"; break; }; done || true)
    [ -n "$py" ] || fail "neither xz nor python3 to unpack the bundle"
    "$py" -c 'import sys, tarfile; tarfile.open(sys.argv[1], "r:xz").extractall(sys.argv[2])' "$BUNDLE" "$PREFIX"
  fi
  echo "$sum" > "$PREFIX/.bundle-sha256"
fi
LIBDIR=$PREFIX/usr/lib/$ARCH
[ -x "$PREFIX/usr/bin/pkgconf" ] && [ -f "$LIBDIR/cmake/opencv4/OpenCVConfig.cmake" ] \
  || fail "the bundle did not unpack into $PREFIX as expected"
echo "bundle in $PREFIX ($(du -sh "$PREFIX" | cut -f1))"

# ---------------------------------------------------------------------------------------------
stage bundle-check
# The runtime library path: every bundled library, except the common base libraries the machine
# already has (its newer copies serve our binaries too, and tools run with LD_LIBRARY_PATH set --
# cmake, the compilers, python -- keep their own).
BASE="libz.so.1 liblzma.so.5 libzstd.so.1 libbz2.so.1.0 libexpat.so.1 libselinux.so.1 \
libpcre2-8.so.0 libffi.so.8 libmd.so.0 libbsd.so.0 libblkid.so.1 libmount.so.1 libcrypto.so.3 \
libssl.so.3 libsqlite3.so.0 libbrotlicommon.so.1 libbrotlidec.so.1"
RTLIB=$PREFIX/runtime-lib
rm -rf "$RTLIB" && mkdir -p "$RTLIB"
sys_sonames=" $( (ldconfig -p 2>/dev/null || true) | awk '/x86-64/ {print $1}' | sort -u | tr '\n' ' ') "
kept_system=()
for f in "$LIBDIR"/*.so.*; do
  n=$(basename "$f")
  if [[ " $BASE " == *" $n "* && "$sys_sonames" == *" $n "* ]]; then kept_system+=("$n"); continue; fi
  ln -s "$f" "$RTLIB/$n"
done
echo "machine's own copies used for: ${kept_system[*]:-none}"
bad=0
for l in libopencv_imgcodecs.so.406 libopenslide.so.0 libtiff.so.6 libbenchmark.so.1debian libcrypto.so.3 libxml2.so.2; do
  out=$(LD_LIBRARY_PATH=$RTLIB ldd -r "$LIBDIR/$l" 2>&1 || true)
  if grep -E 'not found|undefined symbol|version .* not found' <<<"$out"; then bad=1; fi
done
[ "$bad" = 0 ] || fail "bundled libraries do not load on this machine (above: an older glibc than bookworm's 2.36?)"
"$PREFIX/usr/bin/pkg-config" --cflags --libs openslide || fail "the bundled pkg-config does not run"

LINK_FLAGS="-Wl,--allow-shlib-undefined -Wl,-rpath-link,$LIBDIR"
# cmake and ninja on PATH for nested configures (the consumer test), wherever they came from.
mkdir -p "$PREFIX/tools"
ln -sf "$CMAKE" "$PREFIX/tools/cmake"
[ -x "$(dirname "$CMAKE")/ctest" ] && ln -sf "$(dirname "$CMAKE")/ctest" "$PREFIX/tools/ctest"
[ -n "$NINJA" ] && ln -sf "$NINJA" "$PREFIX/tools/ninja"
cat > "$PREFIX/env.sh" <<EOF
# Source before running what build-gpu/ built (tests, benchmarks, ctest): the bundle's libraries,
# and the hints a nested CMake configure (the install_and_consume test) needs.
export PYDMED_DEB_PREFIX="$PREFIX"
export LD_LIBRARY_PATH="$RTLIB\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}"
export CMAKE_PREFIX_PATH="$PREFIX/usr:$TORCH_CMAKE${CUDA_ROOT:+:$CUDA_ROOT}"
export OpenCV_DIR="$LIBDIR/cmake/opencv4" nlohmann_json_DIR="$PREFIX/usr/share/cmake/nlohmann_json"
export Torch_DIR="$TORCH_CMAKE/Torch"
export PKG_CONFIG="$PREFIX/usr/bin/pkg-config"
export LDFLAGS="$LINK_FLAGS"
export CMAKE_POLICY_VERSION_MINIMUM=3.5
export TORCH_CUDA_ARCH_LIST="\${TORCH_CUDA_ARCH_LIST:-9.0}"
EOF
echo "export PATH=\"$PREFIX/tools:\$PATH\"" >> "$PREFIX/env.sh"
[ -n "$NINJA" ] && echo "export CMAKE_GENERATOR=Ninja" >> "$PREFIX/env.sh"
if [ -n "$CUDA_ROOT" ]; then
  cat >> "$PREFIX/env.sh" <<EOF
export CUDA_HOME="$CUDA_ROOT" CUDAToolkit_ROOT="$CUDA_ROOT" CUDACXX="$CUDA_ROOT/bin/nvcc"
export PATH="$CUDA_ROOT/bin:\$PATH"
EOF
fi
echo "wrote $PREFIX/env.sh"

# ---------------------------------------------------------------------------------------------
stage configure
export CMAKE_POLICY_VERSION_MINIMUM=3.5   # CMake 4 refuses Debian's older config files otherwise
export TORCH_CUDA_ARCH_LIST=${TORCH_CUDA_ARCH_LIST:-9.0}   # H100/H200; nothing here is CUDA code
args=(-S "$SRC" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release
  -DCMAKE_PREFIX_PATH="$PREFIX/usr;$TORCH_CMAKE${CUDA_ROOT:+;$CUDA_ROOT}"
  -DOpenCV_DIR="$LIBDIR/cmake/opencv4" -DGTest_DIR="$LIBDIR/cmake/GTest"
  -Dbenchmark_DIR="$LIBDIR/cmake/benchmark" -Dnlohmann_json_DIR="$PREFIX/usr/share/cmake/nlohmann_json"
  -DCLI11_DIR="$PREFIX/usr/share/cmake/CLI11" -DTorch_DIR="$TORCH_CMAKE/Torch"
  -DPKG_CONFIG_EXECUTABLE="$PREFIX/usr/bin/pkg-config"
  -DTIFF_INCLUDE_DIR="$PREFIX/usr/include/$ARCH" -DTIFF_LIBRARY="$LIBDIR/libtiff.so"
  -DZLIB_INCLUDE_DIR="$PREFIX/usr/include" -DZLIB_LIBRARY="$LIBDIR/libz.so"
  -DJPEG_INCLUDE_DIR="$PREFIX/usr/include" -DJPEG_LIBRARY="$LIBDIR/libjpeg.so"
  -DOPENSSL_ROOT_DIR="$PREFIX/usr" -DOPENSSL_INCLUDE_DIR="$PREFIX/usr/include"
  -DOPENSSL_CRYPTO_LIBRARY="$LIBDIR/libcrypto.so" -DOPENSSL_SSL_LIBRARY="$LIBDIR/libssl.so"
  -DCMAKE_EXE_LINKER_FLAGS="$LINK_FLAGS" -DCMAKE_SHARED_LINKER_FLAGS="$LINK_FLAGS"
  -DCMAKE_MODULE_LINKER_FLAGS="$LINK_FLAGS"
  -DCMAKE_POLICY_VERSION_MINIMUM=3.5
  # Tests are listed when ctest runs (with env.sh sourced), not right after linking.
  -DCMAKE_GTEST_DISCOVER_TESTS_DISCOVERY_MODE=PRE_TEST)
if [ -n "$NINJA" ]; then args+=(-G Ninja -DCMAKE_MAKE_PROGRAM="$NINJA"); fi
if [ -n "$CUDA_ROOT" ]; then
  # pip torch's Caffe2 config enables the CUDA language and finds the toolkit.
  export PATH=$CUDA_ROOT/bin:$PATH CUDACXX=$CUDA_ROOT/bin/nvcc CUDAToolkit_ROOT=$CUDA_ROOT
  args+=(-DCMAKE_CUDA_COMPILER="$CUDA_ROOT/bin/nvcc" -DCUDAToolkit_ROOT="$CUDA_ROOT"
    -DCUDA_TOOLKIT_ROOT_DIR="$CUDA_ROOT" -DUSE_SYSTEM_NVTX=ON -DCUDA_NVRTC_SHORTHASH=XXXXXXXX)
  [ -d "$CUDA_ROOT/include/nvtx3" ] && args+=(-Dnvtx3_dir="$CUDA_ROOT/include")
fi
[ -x "$PY" ] && args+=(-DPython_EXECUTABLE="$PY" -DPYTHON_EXECUTABLE="$PY")
if [ -n "${PYDMED_WSI_DIR:-}" ]; then args+=(-DPYDMED_WSI_DIR="$PYDMED_WSI_DIR")
elif [ ! -d "$SRC/../shared/wsi" ]; then
  for d in "$SRC/shared/wsi" "$SRC/.gpu/wsi"; do
    [ -d "$d" ] && { args+=(-DPYDMED_WSI_DIR="$d"); break; }
  done
fi
[ -n "${PYDMED_CXX_STANDARD:-}" ] && args+=(-DCMAKE_CXX_STANDARD="$PYDMED_CXX_STANDARD")
# shellcheck disable=SC2206
[ -n "${PYDMED_CMAKE_ARGS:-}" ] && args+=($PYDMED_CMAKE_ARGS)
printf '%q ' "$CMAKE" "${args[@]}"; echo
if ! "$CMAKE" "${args[@]}"; then
  if [ -n "${OUT:-}" ]; then
    cp -f "$BUILD"/CMakeFiles/CMakeConfigureLog.yaml "$BUILD"/CMakeFiles/CMakeError.log \
      "$BUILD"/CMakeFiles/CMakeOutput.log "$BUILD"/CMakeCache.txt "$OUT"/ 2>/dev/null || true
  fi
  fail "cmake configure failed (see the CMake Error above)"
fi
[ -n "${OUT:-}" ] && cp -f "$BUILD/CMakeCache.txt" "$OUT/" || true
grep -E '^(OpenCV_DIR|Torch_DIR|TIFF_LIBRARY|ZLIB_LIBRARY|OPENSSL_CRYPTO_LIBRARY|OPENSLIDE_LINK_LIBRARIES|CMAKE_CXX_COMPILER|CMAKE_CUDA_COMPILER)[:A-Z]*=' "$BUILD/CMakeCache.txt" || true
[ -n "${PYDMED_CONFIGURE_ONLY:-}" ] && { echo "configure only: done"; exit 0; }

# ---------------------------------------------------------------------------------------------
stage build
t0=$(date +%s)
"$CMAKE" --build "$BUILD" -j"$JOBS" ${TARGETS[@]+--target "${TARGETS[@]}"} || fail "build failed (the first error is above)"
echo "built in $(( $(date +%s) - t0 )) s"

# ---------------------------------------------------------------------------------------------
stage load-check
# Every built program must find all its libraries with env.sh's library path; pydmed must run.
bad=0
while IFS= read -r exe; do
  miss=$(LD_LIBRARY_PATH=$RTLIB ldd "$exe" 2>&1 | grep 'not found' || true)
  if [ -n "$miss" ]; then echo "$exe:"; echo "$miss"; bad=1; else echo "ok: $exe"; fi
done < <(find "$BUILD" -type f -perm -u+x \( -name 'pydmed*' -o -name '*_bench' -o -name train_demo \
           -o -name wsi_inference -o -name '*.so*' \) ! -path '*/CMakeFiles/*' | sort)
if [ -x "$BUILD/tools/pydmed" ]; then
  LD_LIBRARY_PATH=$RTLIB "$BUILD/tools/pydmed" --help >/dev/null || { echo "pydmed --help failed"; bad=1; }
fi
[ "$bad" = 0 ] || fail "some built programs do not load (above)"
echo
echo "build-on-device: OK. Next: source $PREFIX/env.sh && cd $BUILD && ctest --output-on-failure"
