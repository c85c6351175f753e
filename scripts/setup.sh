#!/usr/bin/env bash
# Installs what a fresh Debian/Ubuntu machine with a Rust toolchain lacks to build and test
# LungDesk. Idempotent: it installs only what is missing. Needs root (or sudo) for apt.
set -euo pipefail

need_apt=()
command -v cmake >/dev/null 2>&1 || need_apt+=(cmake)        # CharLS (JPEG-LS), libjpeg-turbo
command -v c++ >/dev/null 2>&1 || need_apt+=(g++)
command -v make >/dev/null 2>&1 || need_apt+=(make)
command -v pkg-config >/dev/null 2>&1 || need_apt+=(pkg-config)
command -v nasm >/dev/null 2>&1 || need_apt+=(nasm)          # libjpeg-turbo's SIMD paths
# A software Vulkan driver (lavapipe), so GPU tests and benchmarks run without a GPU.
ls /usr/share/vulkan/icd.d/lvp_icd*.json >/dev/null 2>&1 || need_apt+=(mesa-vulkan-drivers libvulkan1)
# ONNX Runtime comes from its PyPI wheel, fetched with pip (below).
command -v python3 >/dev/null 2>&1 || need_apt+=(python3)
python3 -m pip --version >/dev/null 2>&1 || need_apt+=(python3-pip)

if [ ${#need_apt[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "setup: installing ${need_apt[*]}" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

# PostgreSQL for the cloud service's tests (its SQLite tests need nothing).
bash "$(dirname "$0")/postgres.sh"

# ONNX Runtime 1.31.1 (what ort 2.0.0-rc.15 needs) for the AI models: the shared library
# from the PyPI wheel, unpacked where LungDesk looks for it (inference/src/runtime.rs). The
# wheel's platform tags are pinned, so this works whatever python3 version is installed.
ort_version=1.31.1
ort_dir="${XDG_DATA_HOME:-$HOME/.local/share}/lungdesk/onnxruntime"
if [ ! -f "$ort_dir/libonnxruntime.so.$ort_version" ]; then
  echo "setup: fetching ONNX Runtime $ort_version from PyPI into $ort_dir" >&2
  wheel_dir="$(mktemp -d)"
  python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version 312 --implementation cp \
    --abi cp312 --platform manylinux_2_28_x86_64 --dest "$wheel_dir" "onnxruntime==$ort_version"
  mkdir -p "$ort_dir"
  python3 - "$wheel_dir" "$ort_dir" "$ort_version" <<'PY'
import glob, os, sys, zipfile
wheel_dir, out_dir, version = sys.argv[1:]
(wheel,) = glob.glob(os.path.join(wheel_dir, "onnxruntime-*.whl"))
name = f"onnxruntime/capi/libonnxruntime.so.{version}"
with zipfile.ZipFile(wheel) as z, open(os.path.join(out_dir, f".lib.{os.getpid()}"), "wb") as f:
    f.write(z.read(name))
os.replace(os.path.join(out_dir, f".lib.{os.getpid()}"), os.path.join(out_dir, os.path.basename(name)))
PY
  rm -rf "$wheel_dir"
fi
