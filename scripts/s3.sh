#!/usr/bin/env bash
# Provision and start a local S3-compatible emulator (moto_server) for the object-store tests, then
# print its endpoint.
#
#   scripts/s3.sh          install moto if it is missing, start the server, print ADBRAG_TEST_S3_ENDPOINT=…
#   scripts/s3.sh stop     stop the server
#   scripts/s3.sh url      print ADBRAG_TEST_S3_ENDPOINT only (the server must be running)
#
# Idempotent: a second run reuses the virtualenv and the server that run. moto comes from PyPI into
# a virtualenv under target/ (gitignored; a mirror configured through pip's own settings, e.g.
# PIP_INDEX_URL, is honoured). The server listens on 127.0.0.1 only, on a free port chosen at its
# first start and kept while it runs. It keeps everything in memory and checks no signatures: it is
# for tests, never for data. The endpoint is the last line on stdout; messages go to stderr.
#
# Settings (environment):
#   ADBRAG_S3_DIR    where the virtualenv, pid, port and log live   (default <repo>/target/s3)
#   ADBRAG_S3_PORT   port to listen on                              (default: a free port)
set -euo pipefail

PACKAGE='moto[server]==5.2.5'
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DIR=${ADBRAG_S3_DIR:-$ROOT/target/s3}
VENV=$DIR/venv
PID_FILE=$DIR/moto.pid
PORT_FILE=$DIR/moto.port
LOG=$DIR/moto.log

say() { printf 's3.sh: %s\n' "$*" >&2; }
die() {
	printf 's3.sh: error: %s\n' "$*" >&2
	exit 1
}

install_moto() {
	[ -x "$VENV/bin/moto_server" ] && return
	command -v python3 >/dev/null || die "python3 is missing: install Python 3 (with its venv module), then run this again"
	mkdir -p "$DIR"
	say "installing $PACKAGE into $VENV"
	python3 -m venv "$VENV" || die "could not create a virtualenv in $VENV: install python3-venv"
	"$VENV/bin/pip" install -q --disable-pip-version-check "$PACKAGE" >&2 ||
		die "could not install $PACKAGE from PyPI; check network access to PyPI (or PIP_INDEX_URL)"
}

# True when the server answers S3's ListBuckets on $1.
answers() {
	"$VENV/bin/python" - "$1" <<-'EOF' >/dev/null 2>&1
		import sys, urllib.request
		urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/", timeout=2).read()
	EOF
}

running() {
	[ -f "$PID_FILE" ] && [ -f "$PORT_FILE" ] && kill -0 "$(cat "$PID_FILE")" 2>/dev/null &&
		answers "$(cat "$PORT_FILE")"
}

free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start_server() {
	if running; then
		say "moto_server is already running on 127.0.0.1:$(cat "$PORT_FILE")"
		return
	fi
	# A pid file left by a server that died (or a reboot): its process is not ours to signal.
	rm -f "$PID_FILE"
	local port=${ADBRAG_S3_PORT:-$(free_port)}
	mkdir -p "$DIR"
	say "starting moto_server on 127.0.0.1:$port (log: $LOG)"
	nohup "$VENV/bin/moto_server" -H 127.0.0.1 -p "$port" >"$LOG" 2>&1 </dev/null &
	echo $! >"$PID_FILE"
	echo "$port" >"$PORT_FILE"
	local tries
	for tries in $(seq 1 100); do
		answers "$port" && return
		kill -0 "$(cat "$PID_FILE")" 2>/dev/null || die "moto_server exited at start; see $LOG"
		sleep 0.1
	done
	die "moto_server did not answer on 127.0.0.1:$port within 10 s; see $LOG"
}

case "${1:-start}" in
start)
	install_moto
	start_server
	echo "ADBRAG_TEST_S3_ENDPOINT=http://127.0.0.1:$(cat "$PORT_FILE")"
	;;
stop)
	# Only a process that still answers as our server: a stale pid may belong to another by now.
	if running; then kill "$(cat "$PID_FILE")"; fi
	rm -f "$PID_FILE"
	say "stopped"
	;;
url)
	running || die "moto_server is not running: run scripts/s3.sh"
	echo "ADBRAG_TEST_S3_ENDPOINT=http://127.0.0.1:$(cat "$PORT_FILE")"
	;;
*)
	die "unknown command '$1': use start, stop or url"
	;;
esac
