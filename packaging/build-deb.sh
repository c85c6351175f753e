#!/usr/bin/env bash
# Builds target/debian/lungdesk_<version>_<arch>.deb (needs `cargo install cargo-deb`).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
command -v cargo-deb >/dev/null || cargo install cargo-deb --locked
# ONNX Runtime (unpacked by setup.sh from the PyPI wheel) ships in /usr/lib/lungdesk, where
# the app looks next to /usr/bin; the bundled models go to /usr/share/lungdesk/models.
mkdir -p target/onnxruntime
cp "${XDG_DATA_HOME:-$HOME/.local/share}/lungdesk/onnxruntime/libonnxruntime.so.1.31.1" target/onnxruntime/
cargo deb -p lungdesk
ls -l target/debian/*.deb
