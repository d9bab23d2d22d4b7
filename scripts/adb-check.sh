#!/usr/bin/env bash
# The live AnalyticDB check (docs/analyticdb.md): what no test here can prove without an instance.
#
#   ADB_DATABASE_URL=postgres://user:pass@gp-xxxx.gpdb.rds.aliyuncs.com:5432/postgres scripts/adb-check.sh
#
# The account needs CREATEDB and CREATEROLE (AnalyticDB's initial account has both). Each step
# works in databases it creates (adbrag_adbcheck_*, adbrag_test_*) and drops again.
#   1. the probe: the server answers SHOW adbpg_version, has FastANN, and adbrag settles on the
#      analyticdb dialect by itself;
#   2. the golden renderings still match (offline, the same test CI runs);
#   3. a smoke run of the real binary: migrate, ingest examples/corpus, search in every mode,
#      eval, purge one document with --vacuum (its verification must say OK), delete the
#      collection;
#   4. the integration suite's modules that speak only through adbrag's store and API (the rest
#      query pgvector's catalog or files on disk directly and are pgvector-only).
# Without ADB_DATABASE_URL it prints SKIPPED and exits 0 (1 when ADB_CHECK_REQUIRED=1).
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf 'adb-check.sh: %s\n' "$*" >&2; }
die() {
	printf 'adb-check.sh: error: %s\n' "$*" >&2
	exit 1
}

if [ -z "${ADB_DATABASE_URL:-}" ]; then
	say "SKIPPED: ADB_DATABASE_URL is not set (point it at an AnalyticDB for PostgreSQL 7.2.1.2+ instance with Vector Search Engine Optimization enabled)"
	[ "${ADB_CHECK_REQUIRED:-0}" = 1 ] && exit 1
	exit 0
fi
command -v psql >/dev/null || die "psql is not installed: apt-get install postgresql-client"
case $ADB_DATABASE_URL in postgres://* | postgresql://*) ;; *) die "ADB_DATABASE_URL must be a postgres:// URL" ;; esac

# 1. The probe, by hand first, so a wrong instance is named before anything is built.
version=$(psql "$ADB_DATABASE_URL" -qAtX -c "SELECT current_setting('adbpg_version', true)") ||
	die "cannot connect with ADB_DATABASE_URL: check the host, the whitelist (IP allowlist) and the account"
[ -n "$version" ] || die "the server does not answer SHOW adbpg_version: it is not AnalyticDB for PostgreSQL"
say "AnalyticDB for PostgreSQL $version"
fastann=$(psql "$ADB_DATABASE_URL" -qAtX -c "SELECT extversion FROM pg_extension WHERE extname = 'fastann'")
[ -n "$fastann" ] || die "FastANN is not installed: enable Vector Search Engine Optimization in the console (7.2.1.2+; the instance restarts)"
pgsearch=$(psql "$ADB_DATABASE_URL" -qAtX -c "SELECT extversion FROM pg_extension WHERE extname = 'pgsearch'")
say "fastann $fastann, pgsearch ${pgsearch:-absent}"

# 2. The golden renderings (offline).
cargo test --locked --test integration -- dialect::every_statement dialect::analyticdb

# 3. The real binary against a fresh database.
cargo build --locked --bin adbrag
bin=target/debug/adbrag
models_dir=$(scripts/models.sh | tail -n 1)
export ADBRAG_MODELS_DIR="${models_dir%/*}"
db="adbrag_adbcheck_$(date +%s)"
psql "$ADB_DATABASE_URL" -qX -v ON_ERROR_STOP=1 -c "CREATE DATABASE $db"
cleanup() { psql "$ADB_DATABASE_URL" -qX -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true; }
trap cleanup EXIT
url=$(python3 -c 'import sys, urllib.parse as u; p = u.urlsplit(sys.argv[1]); print(u.urlunsplit(p._replace(path="/" + sys.argv[2])))' "$ADB_DATABASE_URL" "$db")
export DATABASE_URL=$url ADBRAG_TENANT=adbcheck
$bin migrate | tee /dev/stderr | grep -q "AnalyticDB for PostgreSQL" ||
	die "migrate did not settle on the analyticdb dialect"
$bin ingest examples/corpus --collection handbook
for mode in vector keyword hybrid; do
	$bin search "how many days of annual leave" --collection handbook --mode "$mode" --json >/dev/null
done
$bin eval examples/eval.jsonl --collection handbook
document=$($bin search "annual leave" --collection handbook --mode keyword --json |
	python3 -c 'import json, sys; print(json.load(sys.stdin)["hits"][0]["document_id"])')
$bin purge --collection handbook --document "$document" --actor adb-check --reason "adb-check" --yes --vacuum |
	tee /dev/stderr | grep -q "→ OK" || die "the purge's verification did not say OK"
$bin stats >/dev/null

# 4. The integration suite's store- and API-level modules, each test in a database of its own.
ADBRAG_TEST_DATABASE_URL=$ADB_DATABASE_URL cargo test --locked --test integration -- \
	api:: chat:: keywords:: queue:: roles:: search_filter:: store_jobs:: rerank::
say "OK: AnalyticDB $version passed the live check"
