#!/usr/bin/env bash
# Builds .gpu/deps.tar.xz: a prefix tree, to be unpacked at /opt/deb on a machine that has none
# of our Debian dependencies (the GPU machine), holding what configuring, building and running
# every target of this project needs from Debian bookworm -- headers, CMake and pkg-config files,
# libraries and their runtime closure, and pkgconf -- except LibTorch (pip's torch provides it)
# and the glibc family, libstdc++ and libgcc_s (the machine's own, newer ones are used).
#
# Size: OpenCV's imgcodecs needs libgdal and libgdcm (DICOM), whose closure is ~100 MB. We never
# call them, so they are replaced by STUB libraries with the same SONAMEs that define every symbol
# the bundle takes from them (Debian links with -z now, so an empty stub would fail to load).
# A stub function returns 0 (NULL): OpenCV calls GDALAllRegister() whenever it builds its codec
# list (any imread/haveImageReader), and GDALOpen() == NULL makes its GDAL decoder decline.
# PYDMED_STUB_TRACE=1 in the environment makes every stub call print its name to stderr.
#
# Usage: bash scripts/gpu/make-bundle.sh   (Debian bookworm, apt sources reachable, gcc, python3)
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
ARCH=x86_64-linux-gnu
OUT=$ROOT/.gpu                                  # what travels: deps.tar.xz (and wsi/)
WORK=${PYDMED_BUNDLE_WORK:-/tmp/pydmed-gpu-bundle} # scratch, kept out of .gpu so it stays small
DEBS=$WORK/debs           # downloaded .deb cache, kept between runs
STAGE=$WORK/stage         # the prefix tree (becomes /opt/deb)
STUBSRC=$WORK/stub-src    # the real stubbed libraries, only to read their symbol tables
LIBDIR=$STAGE/usr/lib/$ARCH
log() { printf '\n== %s\n' "$*"; }
die() { printf 'make-bundle: ERROR: %s\n' "$*" >&2; exit 1; }

# Keep .gpu/ out of git without touching .gitignore.
excl=$(git rev-parse --git-path info/exclude 2>/dev/null || true)
if [ -n "$excl" ]; then
  mkdir -p "$(dirname "$excl")" && touch "$excl"
  grep -qxF '/.gpu/' "$excl" || echo '/.gpu/' >> "$excl"
fi

# Headers, .so links, CMake and pkg-config files: everything CMakeLists.txt, pydmed_torch/,
# tools/, tests/, examples/ and benchmarks/ find (LibTorch excepted).
DEV_PKGS=(libopenslide-dev libopencv-dev libopencv-core-dev libopencv-imgproc-dev
  libopencv-imgcodecs-dev libtiff-dev libjpeg62-turbo-dev zlib1g-dev nlohmann-json3-dev libcli11-dev libgtest-dev
  libgmock-dev libbenchmark-dev libssl-dev pkgconf pkgconf-bin)
# Runtime closure of libopenslide, libopencv_{core,imgproc,imgcodecs}, libtiff, libcrypto,
# libbenchmark and pkgconf, without the glibc family and without what only gdal/gdcm pull in.
RUN_PKGS=(libopenslide0 libopencv-core406 libopencv-imgproc406 libopencv-imgcodecs406 libtiff6
  zlib1g libssl3 libbenchmark1debian libpkgconf3
  libblas3 liblapack3 libgfortran5 libquadmath0 libtbb12 libglx0 libglvnd0 libx11-6 libxcb1
  libxau6 libxdmcp6 libbsd0 libmd0 libopenexr-3-1-30 libimath-3-1-29 libjpeg62-turbo
  libpng16-16 libwebp7 libopenjp2-7 libzstd1 liblzma5 liblerc4 libjbig0 libdeflate0
  libglib2.0-0 libffi8 libpcre2-8-0 libmount1 libblkid1 libselinux1 libcairo2 libpixman-1-0
  libfontconfig1 libfreetype6 libexpat1 libbrotli1 libxcb-render0 libxcb-shm0 libxext6
  libxrender1 libgdk-pixbuf-2.0-0 libsqlite3-0 libxml2 libicu72)
# SONAMEs replaced by stubs, and the packages that hold the real ones.
STUBS=(libgdal.so.32 libgdcmMSFF.so.3.0 libgdcmDSED.so.3.0)
STUB_PKGS=(libgdal32 libgdcm3.0)
# Provided by the target machine itself; never bundled.
SYSTEM_SONAMES="libc.so.6 libm.so.6 libpthread.so.0 libdl.so.2 librt.so.1 libresolv.so.2 \
libutil.so.1 ld-linux-x86-64.so.2 libstdc++.so.6 libgcc_s.so.1"
KEEP_OPENCV="core imgproc imgcodecs"

log "downloading .debs into $DEBS"
mkdir -p "$DEBS"
missing=()
for p in "${DEV_PKGS[@]}" "${RUN_PKGS[@]}" "${STUB_PKGS[@]}"; do
  compgen -G "$DEBS/${p}_*.deb" >/dev/null || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  (cd "$DEBS" && apt-get download "${missing[@]}") || die "apt-get download failed (apt-get update?)"
fi

log "unpacking into $STAGE"
rm -rf "$STAGE" "$STUBSRC"
mkdir -p "$STAGE" "$STUBSRC"
for p in "${DEV_PKGS[@]}" "${RUN_PKGS[@]}"; do
  debs=("$DEBS/${p}"_*.deb)
  [ "${#debs[@]}" -eq 1 ] || die "expected one .deb for $p, found: ${debs[*]}"
  dpkg-deb -x "${debs[0]}" "$STAGE"
done
for p in "${STUB_PKGS[@]}"; do dpkg-deb -x "$DEBS/${p}"_*.deb "$STUBSRC"; done

log "pruning"
# Merge /lib into /usr/lib (bookworm still ships some libraries under /lib).
if [ -d "$STAGE/lib" ]; then
  cp -a "$STAGE/lib/." "$STAGE/usr/lib/"
  rm -rf "${STAGE:?}/lib"
fi
rm -rf "${STAGE:?}/etc" "$STAGE/usr/src" "$STAGE/usr/sbin"
# usr/share: only CMake and pkg-config files are needed.
find "$STAGE/usr/share" -mindepth 1 -maxdepth 1 ! -name cmake ! -name pkgconfig -exec rm -rf {} +
# usr/bin: only pkgconf.
find "$STAGE/usr/bin" -mindepth 1 ! -name pkgconf -exec rm -rf {} +
# Library subfolders: keep CMake/pkg-config files and the BLAS/LAPACK alternatives.
find "$LIBDIR" -mindepth 1 -maxdepth 1 -type d ! -name cmake ! -name pkgconfig ! -name blas \
  ! -name lapack -exec rm -rf {} +
# Static libraries: only GoogleTest/GoogleMock (shipped static only) and benchmark_main.
find "$LIBDIR" -name '*.a' ! -name 'libgtest*.a' ! -name 'libgmock*.a' ! -name 'libbenchmark_main.a' -delete
# Debian's update-alternatives links for BLAS/LAPACK are made at install time; make them here.
ln -sf blas/libblas.so.3 "$LIBDIR/libblas.so.3"
ln -sf lapack/liblapack.so.3 "$LIBDIR/liblapack.so.3"

# Absolute symlinks (e.g. libz.so -> /lib/x86_64-linux-gnu/libz.so.1.2.13) become relative ones
# inside the tree; links left dangling (to packages we do not ship) are removed.
while IFS= read -r -d '' l; do
  t=$(readlink "$l")
  case "$t" in
    /lib/*) t=/usr$t ;;
  esac
  case "$t" in
    /*) if [ -e "$STAGE$t" ]; then ln -sfr "$STAGE$t" "$l"; else rm -f "$l"; fi ;;
  esac
done < <(find "$STAGE" -type l -print0)
find "$STAGE" -xtype l -print -delete | sed 's/^/  removed dangling link: /'

# pkg-config: a wrapper that runs the bundle's pkgconf on the bundle's .pc files only, with
# PKG_CONFIG_SYSROOT_DIR set to wherever the bundle lies (so no .pc file needs rewriting).
cat > "$STAGE/usr/bin/pkg-config" <<'EOF'
#!/bin/sh
# pkgconf from the bundle, seeing only the bundle's .pc files, paths prefixed with its root.
p=$(cd "$(dirname "$0")/../.." && pwd)
LD_LIBRARY_PATH="$p/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
PKG_CONFIG_SYSROOT_DIR="$p" \
PKG_CONFIG_LIBDIR="$p/usr/lib/x86_64-linux-gnu/pkgconfig:$p/usr/share/pkgconfig" \
PKG_CONFIG_PATH="" exec "$p/usr/bin/pkgconf" "$@"
EOF
chmod 755 "$STAGE/usr/bin/pkg-config"

# OpenCV: we ship core, imgproc and imgcodecs only. Its exported-targets file checks that every
# module's library exists, so drop the other modules from that check and from the list of
# components a component-less find_package(OpenCV) would link.
cvdir=$LIBDIR/cmake/opencv4
[ -f "$cvdir/OpenCVModules-release.cmake" ] || die "OpenCV CMake files not found"
keep_re=$(echo "$KEEP_OPENCV" | sed 's/ /|/g')
sed -E -i "/^list\(APPEND _cmake_import_check_targets opencv_($keep_re) \)$/b
/^list\(APPEND _cmake_import_check_targets /d" "$cvdir/OpenCVModules-release.cmake"
sed -E -i "s/^set\(OpenCV_LIB_COMPONENTS .*\)$/set(OpenCV_LIB_COMPONENTS $(echo "$KEEP_OPENCV" | sed -E 's/(^| )/\1opencv_/g; s/ /;/g'))/" \
  "$cvdir/OpenCVConfig.cmake"
grep -q '^set(OpenCV_LIB_COMPONENTS opencv_core;opencv_imgproc;opencv_imgcodecs)$' "$cvdir/OpenCVConfig.cmake" \
  || die "could not rewrite OpenCV_LIB_COMPONENTS"
# No absolute /usr paths may be left in CMake files (Debian's "/usr move" guards compare real
# paths and are inert elsewhere; they are the only expected hits).
if grep -rn '"/usr' "$LIBDIR/cmake" "$STAGE/usr/share/cmake" | grep -v ':[0-9]*:#' \
    | grep -v '_realOrig\|_IMPORT_PREFIX "/usr\|PACKAGE_PREFIX_DIR "/usr'; then
  die "absolute /usr paths left in CMake files (above)"
fi

log "dropping shared libraries nothing reaches (ICU's i18n/io/tu, expatw, ...)"
# Roots: pkgconf and every library a development link (libfoo.so) points to; keep their
# NEEDED closure, remove every other shared library and the links to it.
python3 - "$STAGE" "$LIBDIR" <<'PY'
import os, re, subprocess, sys
stage, libdir = sys.argv[1], sys.argv[2]
def needed(p):
    out = subprocess.run(['readelf', '-d', p], capture_output=True, text=True).stdout
    return re.findall(r'\(NEEDED\).*\[(.*)\]', out)
roots = [os.path.join(stage, 'usr/bin/pkgconf')]
roots += [os.path.realpath(os.path.join(libdir, n)) for n in os.listdir(libdir)
          if n.endswith('.so') and os.path.islink(os.path.join(libdir, n))]
keep, todo = set(), list(roots)
while todo:
    p = os.path.realpath(todo.pop())
    if p in keep: continue
    keep.add(p)
    for n in needed(p):
        q = os.path.join(libdir, n)
        if os.path.exists(q): todo.append(q)
removed = []
for r, _, ns in os.walk(libdir):
    for n in ns:
        p = os.path.join(r, n)
        if '.so' in n and not os.path.islink(p) and os.path.realpath(p) not in keep:
            os.remove(p); removed.append(n)
print('  removed:', ' '.join(sorted(removed)) or 'nothing')
PY
find "$STAGE" -xtype l -delete

log "building stubs: ${STUBS[*]}"
python3 - "$STAGE" "$STUBSRC" "$LIBDIR" "$SYSTEM_SONAMES" "${STUBS[@]}" <<'PY'
import os, re, subprocess, sys
stage, stubsrc, libdir, system = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4].split()
stubs = sys.argv[5:]

def is_elf(p):
    try:
        with open(p, 'rb') as f: return f.read(4) == b'\x7fELF'
    except OSError: return False

def dynsyms(p):
    """(defined: {name: (type, size)}, undefined: set(name))"""
    out = subprocess.run(['readelf', '--dyn-syms', '-W', p], capture_output=True, text=True, check=True).stdout
    d, u = {}, set()
    for line in out.splitlines():
        f = line.split()
        if len(f) < 8 or not f[0].endswith(':'): continue
        typ, bind, ndx, name = f[3], f[4], f[6], f[7].split('@')[0]
        if bind not in ('GLOBAL', 'WEAK') or not name: continue
        if ndx == 'UND':
            if bind == 'GLOBAL': u.add(name)
        else:
            d[name] = (typ, int(f[2], 0))
    return d, u

def verneeds(p):
    out = subprocess.run(['readelf', '-V', '-W', p], capture_output=True, text=True).stdout
    return set(re.findall(r'File: (\S+)', out.split('.gnu.version_r')[-1] if '.gnu.version_r' in out else ''))

elfs = [os.path.join(r, n) for r, _, ns in os.walk(stage) for n in ns
        if not os.path.islink(os.path.join(r, n)) and is_elf(os.path.join(r, n))]
undef, provided = set(), set()
for p in elfs:
    if os.path.basename(p) in stubs: continue
    d, u = dynsyms(p); undef |= u; provided |= set(d)
    bad = verneeds(p) & set(stubs)
    if bad: sys.exit(f'{p} needs versioned symbols from {bad}: stubs cannot be plain')
for s in system:
    for d in ('/lib/x86_64-linux-gnu', '/usr/lib/x86_64-linux-gnu'):
        if os.path.exists(os.path.join(d, s)):
            provided |= set(dynsyms(os.path.join(d, s))[0]); break

os.makedirs(os.path.join(stubsrc, 'build'), exist_ok=True)
for s in stubs:
    real = None
    for d in ('usr/lib/x86_64-linux-gnu', 'lib/x86_64-linux-gnu'):
        if os.path.exists(os.path.join(stubsrc, d, s)): real = os.path.join(stubsrc, d, s)
    if not real: sys.exit(f'real {s} not found under {stubsrc}')
    defs, _ = dynsyms(real)
    need = sorted(n for n in undef & set(defs) if n not in provided)
    c = ['#include <stdio.h>', '#include <stdlib.h>',
         'static void trace(const char *f) {',
         '  static int on = -1;',
         '  if (on < 0) on = getenv("PYDMED_STUB_TRACE") != NULL;',
         f'  if (on) fprintf(stderr, "pydmed bundle: stub {s}: %s called, returns 0\\n", f);',
         '}']
    nf = no = 0
    for i, n in enumerate(need):
        typ, size = defs[n]
        if typ in ('FUNC', 'IFUNC', 'NOTYPE'):
            c.append(f'long f{i}(void) __asm__("{n}"); long f{i}(void) {{ trace("{n}"); return 0; }}'); nf += 1
        elif typ == 'OBJECT':
            c.append(f'__attribute__((aligned(16))) char o{i}[{max(size, 1)}] __asm__("{n}") = {{0}};'); no += 1
        else:
            sys.exit(f'{s}: cannot stub {n} of type {typ}')
    src = os.path.join(stubsrc, 'build', s + '.c')
    open(src, 'w').write('\n'.join(c) + '\n')
    out = os.path.join(libdir, s)
    subprocess.run(['gcc', '-shared', '-fPIC', '-O1', '-o', out, f'-Wl,-soname,{s}', src], check=True)
    print(f'  {s}: {nf} functions, {no} objects')
PY

log "checking the closure: every NEEDED library is in the bundle or is the system's"
python3 - "$STAGE" "$LIBDIR" "$SYSTEM_SONAMES" <<'PY'
import os, re, subprocess, sys
stage, libdir, system = sys.argv[1], sys.argv[2], set(sys.argv[3].split())
have = set(os.listdir(libdir))
bad = []
for r, _, ns in os.walk(stage):
    for n in ns:
        p = os.path.join(r, n)
        if os.path.islink(p): continue
        with open(p, 'rb') as f:
            if f.read(4) != b'\x7fELF': continue
        out = subprocess.run(['readelf', '-d', p], capture_output=True, text=True).stdout
        for need in re.findall(r'\(NEEDED\).*\[(.*)\]', out):
            if need not in have and need not in system: bad.append(f'{p}: {need}')
if bad: sys.exit('missing from the bundle:\n  ' + '\n  '.join(bad))
print('  closure complete')
PY
# And that the libraries load and bind (all symbols, now) with the stubs in place.
for l in libopencv_imgcodecs.so.406 libopenslide.so.0 libtiff.so.6 libbenchmark.so.1debian libcrypto.so.3; do
  out=$(LD_LIBRARY_PATH=$LIBDIR ldd -r "$LIBDIR/$l" 2>&1 || true)
  if grep -E 'not found|undefined symbol' <<<"$out"; then die "$l does not load from the bundle"; fi
  grep -q "$LIBDIR/libgdal.so.32" <<<"$out" || [ "$l" != libopencv_imgcodecs.so.406 ] \
    || die "libopencv_imgcodecs did not pick up the libgdal stub"
done
"$STAGE/usr/bin/pkg-config" --cflags --libs openslide >/dev/null || die "the bundled pkg-config does not work"
echo "  libraries load and bind with the bundle's stubs; pkg-config works"

log "packing"
mkdir -p "$OUT"
rm -f "$OUT/deps.tar.xz"
tar -C "$STAGE" --owner=0 --group=0 --numeric-owner --sort=name --mtime=@0 -cf - . \
  | xz -T0 -9 > "$OUT/deps.tar.xz"
printf 'staged: %s   compressed: %s (%s bytes)\n' "$(du -sh "$STAGE" | cut -f1)" \
  "$(du -h "$OUT/deps.tar.xz" | cut -f1)" "$(stat -c %s "$OUT/deps.tar.xz")"

# The test slides (../shared/wsi, outside the repository) travel too, as .gpu/wsi.
if [ -d "$ROOT/../shared/wsi" ]; then
  rm -rf "$OUT/wsi" && cp -r "$ROOT/../shared/wsi" "$OUT/wsi" && chmod -R u+w "$OUT/wsi"
  echo "test slides: $OUT/wsi ($(du -sh "$OUT/wsi" | cut -f1))"
fi
echo "send: carry [\".gpu\"] ($(du -sh "$OUT" | cut -f1) in all)"
