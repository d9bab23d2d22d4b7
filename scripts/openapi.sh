#!/usr/bin/env bash
# Install openapi-spec-validator (PyPI), which checks the service's /openapi.json against the
# OpenAPI specification, then print where it is.
#
#   scripts/openapi.sh               install it if it is missing, print ADBRAG_TEST_OPENAPI_VALIDATOR=…
#   scripts/openapi.sh FILE.json     install it if it is missing, then validate FILE.json (every error)
#
# Idempotent: a second run reuses the virtualenv. It lives under target/ (gitignored; a mirror
# configured through pip's own settings, e.g. PIP_INDEX_URL, is honoured). The validator's path is
# the last line on stdout; messages go to stderr. The API test that checks the document
# (tests/integration/api.rs) runs it when ADBRAG_TEST_OPENAPI_VALIDATOR is set; scripts/test.sh
# sets it.
#
# Settings (environment):
#   ADBRAG_OPENAPI_DIR   where the virtualenv lives   (default <repo>/target/openapi)
set -euo pipefail

PACKAGE='openapi-spec-validator==0.9.0'
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DIR=${ADBRAG_OPENAPI_DIR:-$ROOT/target/openapi}
VENV=$DIR/venv
VALIDATOR=$VENV/bin/openapi-spec-validator

say() { printf 'openapi.sh: %s\n' "$*" >&2; }
die() {
	printf 'openapi.sh: error: %s\n' "$*" >&2
	exit 1
}

install_validator() {
	# The pinned version, installed: a venv left by another pin is upgraded in place.
	if [ -x "$VALIDATOR" ] && [ "$("$VENV/bin/pip" show openapi-spec-validator 2>/dev/null |
		awk '/^Version:/ { print $2 }')" = "${PACKAGE#*==}" ]; then
		return
	fi
	command -v python3 >/dev/null || die "python3 is missing: install Python 3 (with its venv module), then run this again"
	mkdir -p "$DIR"
	say "installing $PACKAGE into $VENV"
	[ -x "$VENV/bin/pip" ] || python3 -m venv "$VENV" || die "could not create a virtualenv in $VENV: install python3-venv"
	"$VENV/bin/pip" install -q --disable-pip-version-check "$PACKAGE" >&2 ||
		die "could not install $PACKAGE from PyPI; check network access to PyPI (or PIP_INDEX_URL)"
	[ -x "$VALIDATOR" ] || die "$PACKAGE installed no $VALIDATOR"
}

install_validator
if [ $# -gt 0 ]; then
	exec "$VALIDATOR" --validation-errors all "$@"
fi
echo "ADBRAG_TEST_OPENAPI_VALIDATOR=$VALIDATOR"
