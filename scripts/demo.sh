#!/usr/bin/env bash
# The main job: installs every dependency, builds, makes sample slides if there are none,
# and shows what the loader works on.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh
slides=${PYDMED_SLIDES:-sample_slides}
if [ ! -f "$slides/manifest.csv" ]; then
  ./build/tools/pydmed make-sample-slides "$slides" --count 8 --size 8192 --seed 0
fi
./build/tools/pydmed info "$slides/slide_000.tiff"
./build/tools/pydmed read "$slides/slide_000.tiff" --x 3000 --y 3000 --level 0 --width 512 --height 512 --out "$slides/region.png"
echo "wrote $slides/region.png"
