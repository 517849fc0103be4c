#!/usr/bin/env bash
# The main job: installs every dependency, builds, makes sample slides if there are none, and
# trains a small CNN on patches streamed by pydmed_torch, then scores it on held-out patients.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh
./build/examples/train_demo --slides "${PYDMED_SLIDES:-sample_slides}" "$@"
