#!/usr/bin/env bash
# Textbook BM25 (Okapi k1 1.2, b 0.75, Snowball stems, jieba search mode) over adbrag's stored
# chunks, scored exhaustively in Python: the reference issue 13's keyword targets are stated
# against. See benches/peers/README.md, "The textbook reference".
#
#   benches/peers/reference.sh dev-en eval/dev-en.jsonl dev-zh eval/dev-zh.jsonl [-- --k1 1.2 --b 0.75]
#
# Needs the collections ingested (any embedder) and DATABASE_URL, or the local cluster, which
# scripts/pg.sh starts. Builds the venv target/reference-venv from PyPI (pinned below).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
cd "$ROOT"
if [ -z "${DATABASE_URL:-}" ]; then
	line=$(scripts/pg.sh | grep '^DATABASE_URL=' || true)
	[ -n "$line" ] || { echo "error: scripts/pg.sh did not print a DATABASE_URL" >&2; exit 1; }
	export DATABASE_URL=${line#DATABASE_URL=}
fi
VENV=$ROOT/target/reference-venv
PINS="snowballstemmer==3.0.1 jieba==0.42.1 psycopg[binary]==3.3.9"
if [ "$(cat "$VENV/.pins" 2>/dev/null)" != "$PINS" ]; then
	echo "reference: creating ${VENV#"$ROOT"/} ($PINS)" >&2
	rm -rf "$VENV"
	python3 -m venv "$VENV"
	# shellcheck disable=SC2086
	"$VENV/bin/pip" install --quiet --no-cache-dir $PINS
	echo "$PINS" >"$VENV/.pins"
fi
args=()
for a in "$@"; do [ "$a" = "--" ] || args+=("$a"); done
exec "$VENV/bin/python" "$HERE/bm25_reference.py" "${args[@]}"
