#!/usr/bin/env bash
# adbrag and a peer (langchain-postgres PGVectorStore, hybrid search) side by side on the same
# chunks, vectors and PostgreSQL server: retrieval quality per labelled set and search latency at
# concurrency 8. See benches/peers/README.md.
#
#   benches/peers/run.sh COLLECTION LABELS.jsonl [COLLECTION LABELS.jsonl ...]
#   benches/peers/run.sh handbook examples/eval.jsonl
#
# Needs: target/release/adbrag (cargo build --release), the collections ingested with the local
# embedder, the local model (scripts/models.sh). Starts the local database (scripts/pg.sh) unless
# DATABASE_URL is set. Creates the venv target/peers-venv from requirements.txt (PyPI only).
# Prints one table and writes target/peers/report-<time>.json (and target/peers/latest.json).
# Extra options go to peers.py after the pairs' end marker `--`, e.g. `-- --passes 3`.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
cd "$ROOT"

die() {
	printf 'error: %s\n' "$*" >&2
	exit 1
}

USAGE="usage: benches/peers/run.sh COLLECTION LABELS.jsonl [COLLECTION LABELS.jsonl ...] [-- peers.py options]"
pairs=()
rest=()
while [ $# -gt 0 ]; do
	if [ "$1" = "--" ]; then
		shift
		rest=("$@")
		break
	fi
	pairs+=("$1")
	shift
done
[ ${#pairs[@]} -ge 2 ] && [ $((${#pairs[@]} % 2)) -eq 0 ] || die "$USAGE"

BIN=${ADBRAG_BIN:-target/release/adbrag}
[ -x "$BIN" ] || die "the adbrag binary $BIN is missing: build it with \`cargo build --release\` (or set ADBRAG_BIN)"

export ADBRAG_MODELS_DIR=${ADBRAG_MODELS_DIR:-$ROOT/models}
[ -f "$ADBRAG_MODELS_DIR/all-MiniLM-L6-v2/model.safetensors" ] ||
	die "the local model is not in $ADBRAG_MODELS_DIR/all-MiniLM-L6-v2: run scripts/models.sh"

if [ -z "${DATABASE_URL:-}" ]; then
	line=$(scripts/pg.sh | grep '^DATABASE_URL=' || true)
	[ -n "$line" ] || die "scripts/pg.sh did not print a DATABASE_URL"
	export DATABASE_URL=${line#DATABASE_URL=}
fi

# The venv, rebuilt when requirements.txt changes. PyPI only: no local wheel directories.
VENV=$ROOT/target/peers-venv
STAMP=$VENV/.requirements.sha256
WANT=$(sha256sum "$HERE/requirements.txt" | cut -d' ' -f1)
if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$STAMP" 2>/dev/null)" != "$WANT" ]; then
	printf 'peers: creating %s from requirements.txt\n' "${VENV#"$ROOT"/}" >&2
	rm -rf "$VENV"
	python3 -m venv "$VENV"
	env -u PIP_FIND_LINKS "$VENV/bin/pip" install --quiet --no-cache-dir --only-binary :all: \
		-r "$HERE/requirements.txt"
	echo "$WANT" >"$STAMP"
fi

export PYTHONDONTWRITEBYTECODE=1 # no __pycache__ in the source tree
"$VENV/bin/python" "$HERE/metrics.py" >/dev/null # the metrics match src/search/eval.rs's tests
exec "$VENV/bin/python" "$HERE/peers.py" --binary "$BIN" "${rest[@]}" "${pairs[@]}"
