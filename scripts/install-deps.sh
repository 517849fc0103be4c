#!/usr/bin/env bash
# Installs every build, test and runtime dependency of pydmed_torch from Debian's packages.
# Idempotent; runs as root or through sudo.
set -euo pipefail
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
PKGS=(
  build-essential cmake pkg-config git ca-certificates
  libtorch-dev                       # LibTorch 1.13 (CPU build)
  libopenslide-dev                   # OpenSlide 3.4.1: every vendor format
  libopencv-dev                      # images, transforms, tissue masks
  libtiff-dev zlib1g-dev             # sample pyramid writer, CRC-32
  libjpeg62-turbo-dev                # the exact tile reader's JPEG decoder
  libdcmtk-dev                       # DICOM slides: metadata parsed, series written (dicomize)
  libopenjp2-7-dev                   # and their JPEG 2000 frames decoded
  nlohmann-json3-dev libcli11-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  libssl-dev                         # SHA-256: quickhash-1, the exact-region tests; S3 signatures
  libcurl4-openssl-dev               # slides by URL (http, https, s3): byte ranges
  libhdf5-dev hdf5-tools             # feature files for MIL tools (pydmed embed); h5dump in the tests
  libgloo-dev                        # c10d's ProcessGroupGloo headers include Gloo's (examples/ddp_train)
  procps                             # ps/pgrep, used by process-tree tests
  python3-dev pybind11-dev           # the Python face (pydmed_torch), built against Debian's python3
  python3-numpy python3-pytest       # its arrays and its tests
  python3-ipykernel python3-jupyter-client  # its test in a Jupyter kernel
  python3-openslide                  # the Python tests compare Slide with openslide-python
  python3-pydicom python3-pil        # and DICOM frames decoded by pydicom and Pillow
  python3-torch                      # and feed Debian's torch (1.13) through StreamDataset
)
export DEBIAN_FRONTEND=noninteractive
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
