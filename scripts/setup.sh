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

if [ ${#need_apt[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "setup: installing ${need_apt[*]}" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi
