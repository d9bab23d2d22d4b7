#!/usr/bin/env bash
# Provision and start adbrag's private PostgreSQL 15 + pgvector cluster, then print its DATABASE_URL.
#
#   scripts/pg.sh          install what is missing, start the cluster, print DATABASE_URL=…
#   scripts/pg.sh stop     stop the cluster (data is kept)
#   scripts/pg.sh url      print DATABASE_URL only (cluster must be running)
#
# Idempotent: a second run reuses the packages, the pgvector build and the cluster that exist.
# The cluster is private: its own data directory, socket directory and port, listening on 127.0.0.1
# only. The system cluster (port 5432) is never touched. The README's "The local database" says what it does.
#
# After an upgrade of the PostgreSQL packages (apt-get upgrade), a running cluster is still the old
# server, which then fails to load the new libraries ("could not load library …/plpgsql.so:
# undefined symbol"): a run that finds the running server's version differing from the installed
# binaries' restarts the cluster, and rebuilds pgvector first when it was built for another version.
#
# Settings (environment):
#   ADBRAG_PG_PORT   port of the private cluster            (default 55432)
#   ADBRAG_PG_DIR    where its data and socket live          (default /var/tmp/adbrag-pg)
#   ADBRAG_PG_DB     database the service uses               (default adbrag)
#   ADBRAG_PG_BIN    the PostgreSQL binaries                 (default /usr/lib/postgresql/15/bin)
set -euo pipefail

PG_MAJOR=15
PG_BIN=${ADBRAG_PG_BIN:-/usr/lib/postgresql/$PG_MAJOR/bin}
PORT=${ADBRAG_PG_PORT:-55432}
ROOT=${ADBRAG_PG_DIR:-/var/tmp/adbrag-pg}
DATA=$ROOT/data
SOCK=$ROOT/run
LOG=$ROOT/log/postgres.log
DB=${ADBRAG_PG_DB:-adbrag}
ROLE=adbrag
PASSWORD=adbrag # a local development cluster bound to 127.0.0.1; never a production credential
URL="postgres://$ROLE:$PASSWORD@127.0.0.1:$PORT/$DB"

say() { printf 'pg.sh: %s\n' "$*" >&2; }
die() {
	printf 'pg.sh: error: %s\n' "$*" >&2
	exit 1
}

is_root() { [ "$(id -u)" -eq 0 ]; }

# Run a command as the cluster's owner: `postgres` when we are root (initdb refuses root), else ourselves.
as_owner() {
	if is_root; then
		su postgres -s /bin/bash -c "$(printf '%q ' "$@")"
	else
		"$@"
	fi
}

need_root() {
	is_root || die "$1 is missing and installing it needs root: run 'sudo $0' once, or install it yourself"
}

apt_updated=
apt_update_once() {
	[ -n "$apt_updated" ] && return
	say "apt-get update"
	apt-get update -qq >/dev/null
	apt_updated=1
}

install_postgres() {
	[ -x "$PG_BIN/postgres" ] && return
	need_root "PostgreSQL $PG_MAJOR"
	apt_update_once
	say "installing postgresql-$PG_MAJOR"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "postgresql-$PG_MAJOR" >/dev/null
	# The Debian package starts the system cluster; we do not use it, leave it as the package set it.
}

# The mirror the system already uses for Debian, so that the trixie source list names no new host.
debian_mirror() {
	local uri=""
	if [ -f /etc/apt/sources.list.d/debian.sources ]; then
		uri=$(awk '/^URIs:/ { for (i = 2; i <= NF; i++) if ($i !~ /security/) { print $i; exit } }' \
			/etc/apt/sources.list.d/debian.sources)
	fi
	if [ -z "$uri" ] && [ -f /etc/apt/sources.list ]; then
		uri=$(awk '$1 == "deb" && $0 !~ /security/ { for (i = 2; i <= NF; i++) if ($i ~ /^https?:/) { print $i; exit } }' \
			/etc/apt/sources.list)
	fi
	[ -n "$uri" ] || die "cannot find the Debian mirror in /etc/apt/sources.list.d/debian.sources or /etc/apt/sources.list"
	printf '%s\n' "$uri"
}

# The installed binaries' version, e.g. 15.20 (from `postgres (PostgreSQL) 15.20 (Debian …)`).
installed_version() {
	local version
	version=$("$PG_BIN/postgres" --version | awk '{ print $3 }')
	[ -n "$version" ] || die "$PG_BIN/postgres --version printed no version"
	printf '%s\n' "$version"
}

install_pgvector() {
	local extdir stamp installed
	extdir=$("$PG_BIN/pg_config" --sharedir)/extension
	# The server version the build was made for (written after a build; a build from before stamps
	# has none and is kept).
	stamp=$extdir/vector.adbrag-pg-version
	installed=$(installed_version)
	if [ -f "$extdir/vector.control" ]; then
		[ -f "$stamp" ] && [ "$(cat "$stamp")" != "$installed" ] || return 0
		say "pgvector was built for PostgreSQL $(cat "$stamp") and the binaries are now $installed: rebuilding it"
	fi
	need_root "pgvector"

	# Headers pinned to the installed server's exact version, or apt would upgrade and restart the server.
	local server_version
	server_version=$(dpkg-query -W -f='${Version}' "postgresql-$PG_MAJOR")
	apt_update_once
	say "installing postgresql-server-dev-$PG_MAJOR=$server_version and build tools"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
		"postgresql-server-dev-$PG_MAJOR=$server_version" make gcc dpkg-dev >/dev/null

	# Debian 12 does not package pgvector; trixie does (0.8.0). Fetch its source through a private
	# sources directory so the system's apt configuration is not changed.
	local work apt_opts
	work=$(mktemp -d /var/tmp/adbrag-pgvector.XXXXXX)
	mkdir -p "$work/sources" "$work/lists/partial"
	printf 'deb-src %s trixie main\n' "$(debian_mirror)" >"$work/sources/trixie-src.list"
	apt_opts=(-oDir::Etc::SourceList=/dev/null -oDir::Etc::SourceParts="$work/sources"
		-oDir::State::Lists="$work/lists" -oAPT::Sandbox::User=root)
	say "fetching pgvector source (Debian trixie)"
	apt-get "${apt_opts[@]}" update -qq >/dev/null
	# dpkg-source warns it cannot verify the inline signature; apt already checked the hashes
	# against the signed index, so the warning is harmless.
	(cd "$work" && apt-get "${apt_opts[@]}" source -qq pgvector >/dev/null 2>&1) ||
		die "could not fetch the pgvector source package; check network access to the Debian mirror"
	local src
	src=$(find "$work" -maxdepth 1 -type d -name 'pgvector-*' | head -n 1)
	[ -n "$src" ] || die "the pgvector source package unpacked nothing in $work"
	say "building pgvector from $src"
	# OPTFLAGS="" avoids -march=native, so the build runs on any x86-64 machine.
	make -s -C "$src" PG_CONFIG="$PG_BIN/pg_config" OPTFLAGS="" >/dev/null
	make -s -C "$src" PG_CONFIG="$PG_BIN/pg_config" OPTFLAGS="" install >/dev/null
	rm -rf "$work"
	[ -f "$extdir/vector.control" ] || die "pgvector built but $extdir/vector.control is missing"
	printf '%s\n' "$installed" >"$stamp"
}

running() { [ -f "$DATA/postmaster.pid" ] && as_owner "$PG_BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; }

psql_owner() { as_owner "$PG_BIN/psql" -h "$SOCK" -p "$PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 -qAt "$@"; }

# A running server older (or newer) than the installed binaries is stopped, so that it starts again
# from them below.
stop_if_outdated() {
	local server installed
	server=$(psql_owner -c 'SHOW server_version' | awk '{ print $1 }') ||
		die "the cluster in $DATA runs but does not answer on $SOCK: see $LOG, or stop it with '$0 stop'"
	installed=$(installed_version)
	[ "$server" = "$installed" ] && return
	say "the running server is PostgreSQL $server but the installed binaries are $installed (upgraded beneath it): restarting the cluster"
	as_owner "$PG_BIN/pg_ctl" -D "$DATA" -w -t 60 stop -m fast >/dev/null ||
		die "the outdated cluster did not stop; see $LOG"
}

start_cluster() {
	mkdir -p "$ROOT"
	if is_root; then
		install -d -o postgres -g postgres -m 0700 "$DATA" "$SOCK" "$ROOT/log"
	else
		install -d -m 0700 "$DATA" "$SOCK" "$ROOT/log"
	fi
	if [ ! -f "$DATA/PG_VERSION" ]; then
		say "initialising a private cluster in $DATA"
		# Local socket: peer (the owner only). TCP: 127.0.0.1 only, password required.
		as_owner "$PG_BIN/initdb" -D "$DATA" -U postgres --auth-local=peer --auth-host=scram-sha-256 \
			--encoding=UTF8 --locale=C.UTF-8 >/dev/null
	fi
	if running; then stop_if_outdated; fi
	if ! running; then
		say "starting the cluster on 127.0.0.1:$PORT"
		# fsync off: this cluster holds development and test data that scripts recreate at will.
		as_owner "$PG_BIN/pg_ctl" -D "$DATA" -l "$LOG" -w -t 60 start \
			-o "-c listen_addresses=127.0.0.1 -c port=$PORT -c unix_socket_directories=$SOCK -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
			>/dev/null || die "the cluster did not start; see $LOG"
	fi
	# A superuser role for the service and the tests (they create databases and the vector extension).
	psql_owner -c "DO \$\$ BEGIN
		IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$ROLE') THEN
			CREATE ROLE $ROLE LOGIN SUPERUSER PASSWORD '$PASSWORD';
		END IF; END \$\$;"
	if [ -z "$(psql_owner -c "SELECT 1 FROM pg_database WHERE datname = '$DB'")" ]; then
		psql_owner -c "CREATE DATABASE $DB OWNER $ROLE"
	fi
}

case "${1:-start}" in
start)
	[ -x "$PG_BIN/postgres" ] || install_postgres
	install_pgvector
	start_cluster
	echo "DATABASE_URL=$URL"
	;;
stop)
	if running; then as_owner "$PG_BIN/pg_ctl" -D "$DATA" -w stop -m fast >/dev/null; fi
	say "stopped"
	;;
url)
	running || die "the cluster is not running: run scripts/pg.sh"
	echo "DATABASE_URL=$URL"
	;;
*)
	die "unknown command '$1': use start, stop or url"
	;;
esac
