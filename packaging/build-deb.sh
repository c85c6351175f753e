#!/usr/bin/env bash
# Builds target/debian/lungdesk_<version>_<arch>.deb (needs `cargo install cargo-deb`).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
command -v cargo-deb >/dev/null || cargo install cargo-deb --locked
cargo deb -p lungdesk
ls -l target/debian/*.deb
