#!/usr/bin/env bash
# Provision the OCR tools for scanned documents (Tesseract 5 with English and Simplified Chinese,
# Poppler's pdftoppm and pdfimages) and the font the OCR fixtures are drawn with, in a private
# prefix, then print where they are.
#
#   scripts/ocr.sh                  install what is missing, check the tools, print ADBRAG_PDFTOPPM=…,
#                                   ADBRAG_OCR_FONT=… and, last, ADBRAG_TESSERACT=…
#   scripts/ocr.sh env              print the same three lines only (the tools must be installed)
#   scripts/ocr.sh fixtures [OUT]   install, then render the OCR test fixtures into OUT (default
#                                   <prefix>/fixtures); the three lines, then ADBRAG_TEST_OCR_FIXTURES=…
#
# Nothing is installed into the system: `apt-get install` may upgrade packages that others run
# (postgresql-15 under the cluster of scripts/pg.sh). The Debian packages are fetched with
# `apt-get download`, with every package they depend on (Depends, Pre-Depends) that is not installed
# here at a version that satisfies them, and unpacked with `dpkg-deb -x` into the prefix; `ldd` then
# checks that no library is missing. Wrappers in <prefix>/bin set LD_LIBRARY_PATH and TESSDATA_PREFIX
# to the prefix, then exec the real binary. A tesseract already on PATH is not used: the private one
# has the same version and languages on every machine. The packages come from the system's configured
# sources; when those know no tesseract-ocr (apt-get update never ran), from a private index of the
# Debian mirror the system uses (as scripts/pg.sh fetches pgvector), leaving the system's apt state as
# it is. Root is not needed.
#
# Idempotent: a stamp records what was unpacked; a second run reuses the prefix and only checks that
# the tools run (and unpacks again when they do not, e.g. after a system library they use went away).
# The fixtures come from scripts/ocr_fixtures.py, run in a virtualenv under the prefix with pinned
# Pillow and reportlab from PyPI (a mirror configured through pip's own settings, e.g. PIP_INDEX_URL,
# is honoured), from the texts in tests/fixtures/ocr/; its README.md says what each fixture is.
# The result is the last line on stdout; messages go to stderr.
#
# Tesseract spreads each page over OpenMP threads; on this project's 2-core machines a page ran about
# twice as fast with OMP_THREAD_LIMIT=1 in its environment (the wrappers leave it as the caller sets it).
#
# Settings (environment):
#   ADBRAG_OCR_DIR   the private prefix: packages, wrappers, virtualenv   (default <repo>/target/ocr)
set -euo pipefail

# What is asked for; their dependencies are worked out below.
PACKAGES=(tesseract-ocr tesseract-ocr-eng tesseract-ocr-chi-sim tesseract-ocr-osd libtesseract5 liblept5
	poppler-utils libpoppler126 fonts-wqy-zenhei)
WRAPPED=(tesseract pdftoppm pdfimages)
PYTHON_PACKAGES=(pillow==11.3.0 reportlab==4.4.10 charset-normalizer==3.4.4)

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DIR=${ADBRAG_OCR_DIR:-$ROOT/target/ocr}
case $DIR in /*) ;; *) DIR=$PWD/$DIR ;; esac # the printed paths must work from anywhere
PREFIX=$DIR/root
BIN=$DIR/bin
STAMP=$DIR/installed
VENV=$DIR/venv
TESSDATA=$PREFIX/usr/share/tesseract-ocr/5/tessdata
FONT=$PREFIX/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc

say() { printf 'ocr.sh: %s\n' "$*" >&2; }
die() {
	printf 'ocr.sh: error: %s\n' "$*" >&2
	exit 1
}

is_root() { [ "$(id -u)" -eq 0 ]; }

# Options for apt-get and apt-cache: the system's sources, or a private index (choose_sources).
# As root apt fetches as its sandbox user, who may not write into our directories.
APT_OPTS=()
is_root && APT_OPTS=(-oAPT::Sandbox::User=root)
apt_() { apt-get "${APT_OPTS[@]}" "$@"; }
apt_cache() { apt-cache "${APT_OPTS[@]}" "$@"; }

# The mirror the system already uses for Debian ($1 = main or security), so that the private index
# names no new host.
debian_mirror() {
	local want=$1 uri=""
	if [ -f /etc/apt/sources.list.d/debian.sources ]; then
		uri=$(awk -v want="$want" '/^URIs:/ { for (i = 2; i <= NF; i++)
				if ((want == "security") == ($i ~ /security/)) { print $i; exit } }' \
			/etc/apt/sources.list.d/debian.sources)
	fi
	if [ -z "$uri" ] && [ -f /etc/apt/sources.list ]; then
		uri=$(awk -v want="$want" '$1 == "deb" && (want == "security") == ($0 ~ /security/) {
				for (i = 2; i <= NF; i++) if ($i ~ /^https?:/) { print $i; exit } }' /etc/apt/sources.list)
	fi
	printf '%s\n' "$uri"
}

# True when the package has a version apt could fetch (a virtual package has none).
has_candidate() { [ -n "$(apt_cache show --no-all-versions "$1" 2>/dev/null)" ]; }

# Use the system's sources if they know the packages, else a private index under the prefix.
choose_sources() {
	has_candidate "${PACKAGES[0]}" && return
	local codename main security work=$DIR/apt
	codename=$(awk -F= '$1 == "VERSION_CODENAME" { print $2 }' /etc/os-release 2>/dev/null)
	main=$(debian_mirror main)
	security=$(debian_mirror security)
	if [ -z "$codename" ] || [ -z "$main" ]; then
		die "the configured apt sources know no ${PACKAGES[0]}, and no Debian release and mirror were found in /etc/os-release and /etc/apt to fetch an index from"
	fi
	say "the configured apt sources know no ${PACKAGES[0]}: fetching a private index of $main ($codename)"
	rm -rf "$work"
	mkdir -p "$work/sources" "$work/lists/partial" "$work/cache/archives/partial"
	{
		printf 'deb %s %s main\n' "$main" "$codename" "$main" "$codename-updates"
		[ -z "$security" ] || printf 'deb %s %s-security main\n' "$security" "$codename"
	} >"$work/sources/debian.list"
	APT_OPTS+=(-oDir::Etc::SourceList=/dev/null -oDir::Etc::SourceParts="$work/sources"
		-oDir::State::Lists="$work/lists" -oDir::Cache="$work/cache")
	apt_ update -qq >/dev/null || die "could not fetch the package index from $main; check network access to the Debian mirror"
	has_candidate "${PACKAGES[0]}" || die "the Debian mirror $main has no ${PACKAGES[0]} for $codename"
}

# True when an installed package satisfies the dependency $1 [$2 $3] (name, relation, version), by
# itself or, unversioned, through an installed package that provides it (a virtual package).
satisfied() {
	local name=$1 status version
	status=$(dpkg-query -W -f='${db:Status-Abbrev}\n' "$name" 2>/dev/null | head -n 1) || true
	if [ "${status:0:2}" = ii ]; then
		[ $# -eq 1 ] && return 0
		version=$(dpkg-query -W -f='${Version}\n' "$name" | head -n 1)
		dpkg --compare-versions "$version" "$2" "$3"
		return
	fi
	[ $# -eq 1 ] || return 1
	dpkg-query -W -f='${db:Status-Abbrev}|${Provides}\n' 2>/dev/null |
		awk -F'|' -v name="$name" '$1 ~ /^ii/ { n = split($2, p, /, */)
			for (i = 1; i <= n; i++) { sub(/ .*/, "", p[i]); if (p[i] == name) found = 1 } }
			END { exit !found }'
}

# The packages to fetch: PACKAGES (always, so the prefix is the same everywhere) and, level by level,
# each dependency that no installed package satisfies (its first alternative that apt can fetch).
# One apt-cache call per level: each call reads the whole package index.
resolve() {
	local -A seen=()
	local level=("${PACKAGES[@]}") next pkg group alt chosen name
	local -a alts
	# name, :arch, (relation version): e.g. "libc6 (>= 2.34)", "python3:any".
	local dep_re='^ *([^ :(]+)(:[a-z0-9]+)? *(\(([<>=]+) *([^)]+)\))?'
	RESOLVED=("${PACKAGES[@]}")
	for pkg in "${PACKAGES[@]}"; do seen[$pkg]=1; done
	while [ ${#level[@]} -gt 0 ]; do
		next=()
		while IFS=$'\t' read -r pkg group; do
			IFS='|' read -r -a alts <<<"$group"
			chosen=
			for alt in "${alts[@]}"; do
				[[ $alt =~ $dep_re ]] || die "cannot read the dependency '$group' of $pkg"
				name=${BASH_REMATCH[1]}
				if [ -n "${seen[$name]:-}" ]; then chosen=$name; break; fi
				if [ -n "${BASH_REMATCH[4]}" ]; then
					satisfied "$name" "${BASH_REMATCH[4]}" "${BASH_REMATCH[5]}" && { chosen=-; break; }
				else
					satisfied "$name" && { chosen=-; break; }
				fi
			done
			[ -z "$chosen" ] || continue
			for alt in "${alts[@]}"; do
				[[ $alt =~ $dep_re ]]
				has_candidate "${BASH_REMATCH[1]}" && { chosen=${BASH_REMATCH[1]}; break; }
			done
			[ -n "$chosen" ] || die "nothing apt can fetch satisfies '$group', a dependency of $pkg"
			seen[$chosen]=1
			RESOLVED+=("$chosen")
			next+=("$chosen")
		done < <(apt_cache show --no-all-versions "${level[@]}" | awk '
			/^Package:/ { pkg = $2 }
			/^(Pre-)?Depends:/ { sub(/^[^:]*: */, ""); n = split($0, g, /, */); for (i = 1; i <= n; i++) print pkg "\t" g[i] }')
		level=("${next[@]}")
	done
}

# The directories of the prefix that hold shared libraries, joined by ':'.
library_path() {
	find "$PREFIX" \( -type f -o -type l \) -name '*.so*' -printf '%h\n' | sort -u | paste -s -d :
}

# Every library the unpacked programs and libraries need must be found, in the prefix or the system.
check_libraries() {
	local libpath missing
	libpath=$(library_path)
	missing=$(find "$PREFIX" -type f \( -perm -u+x -o -name '*.so*' \) -print0 |
		{ xargs -0 -r env LD_LIBRARY_PATH="$libpath" ldd 2>/dev/null || true; } |
		awk '/not found/ { print $1 }' | sort -u | paste -s -d ' ')
	[ -z "$missing" ] ||
		die "the unpacked programs need libraries that no fetched package brought: $missing (add the packages that provide them to PACKAGES in $0)"
}

install_packages() {
	choose_sources
	say "working out which packages are missing here"
	resolve
	local work
	rm -rf "$DIR"/unpack.* # left by an interrupted run
	work=$(mktemp -d "$DIR/unpack.XXXXXX")
	say "fetching ${#RESOLVED[@]} packages: ${RESOLVED[*]}"
	(cd "$work" && apt_ download -qq "${RESOLVED[@]}" >/dev/null) ||
		die "could not download ${RESOLVED[*]}; check network access to the Debian mirror (or run apt-get update)"
	local deb
	for deb in "$work"/*.deb; do
		dpkg-deb -x "$deb" "$work/root"
	done
	rm -rf "$PREFIX" "$STAMP"
	mv "$work/root" "$PREFIX"
	for deb in "$work"/*.deb; do
		printf '%s %s\n' "$(dpkg-deb -f "$deb" Package)" "$(dpkg-deb -f "$deb" Version)"
	done >"$work/stamp"
	rm -f "$work"/*.deb
	check_libraries
	write_wrappers
	{
		printf 'packages: %s\n' "${PACKAGES[*]}"
		cat "$work/stamp"
	} >"$STAMP"
	rm -rf "$work"
}

# Quote $1 for sh.
sh_quote() { printf "'%s'" "${1//\'/\'\\\'\'}"; }

write_wrappers() {
	local name libpath tmp
	libpath=$(library_path)
	mkdir -p "$BIN"
	for name in "${WRAPPED[@]}"; do
		[ -x "$PREFIX/usr/bin/$name" ] || die "the unpacked packages have no usr/bin/$name"
		tmp=$BIN/.$name.tmp
		cat >"$tmp" <<-EOF
			#!/bin/sh
			# Written by scripts/ocr.sh: runs $name from the private prefix $PREFIX.
			LD_LIBRARY_PATH=$(sh_quote "$libpath")\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}
			TESSDATA_PREFIX=$(sh_quote "$TESSDATA")
			export LD_LIBRARY_PATH TESSDATA_PREFIX
			exec $(sh_quote "$PREFIX/usr/bin/$name") "\$@"
		EOF
		chmod 755 "$tmp"
		mv "$tmp" "$BIN/$name"
	done
}

# True when the stamp is this script's package list and the tools run with both languages.
works() {
	[ -f "$STAMP" ] && [ "$(head -n 1 "$STAMP")" = "packages: ${PACKAGES[*]}" ] || return 1
	local name langs
	for name in "${WRAPPED[@]}"; do [ -x "$BIN/$name" ] || return 1; done
	[ -f "$FONT" ] || return 1
	"$BIN/tesseract" --version >/dev/null 2>&1 || return 1
	langs=$("$BIN/tesseract" --list-langs 2>/dev/null) || return 1
	grep -qx eng <<<"$langs" && grep -qx chi_sim <<<"$langs" || return 1
	"$BIN/pdftoppm" -v >/dev/null 2>&1 && "$BIN/pdfimages" -v >/dev/null 2>&1
}

install_tools() {
	if works; then
		return
	fi
	mkdir -p "$DIR"
	[ ! -f "$STAMP" ] || say "the tools in $PREFIX no longer run as installed: unpacking them again"
	install_packages
	works || die "the tools were unpacked into $PREFIX but do not run: $("$BIN/tesseract" --list-langs 2>&1 | tail -n 3; "$BIN/pdftoppm" -v 2>&1 | tail -n 1)"
	say "installed $("$BIN/tesseract" --version 2>/dev/null | head -n 1) and pdftoppm $("$BIN/pdftoppm" -v 2>&1 | awk 'NR == 1 { print $3 }') into $PREFIX"
}

print_env() {
	echo "ADBRAG_PDFTOPPM=$BIN/pdftoppm"
	echo "ADBRAG_OCR_FONT=$FONT"
	echo "ADBRAG_TESSERACT=$BIN/tesseract"
}

install_python() {
	# The pinned versions, installed: a venv left by other pins is brought to these.
	local pins=$VENV/adbrag-pins
	[ -x "$VENV/bin/python" ] && [ "$(cat "$pins" 2>/dev/null)" = "${PYTHON_PACKAGES[*]}" ] && return
	command -v python3 >/dev/null || die "python3 is missing: install Python 3 (with its venv module), then run this again"
	say "installing ${PYTHON_PACKAGES[*]} into $VENV"
	[ -x "$VENV/bin/pip" ] || python3 -m venv "$VENV" || die "could not create a virtualenv in $VENV: install python3-venv"
	"$VENV/bin/pip" install -q --disable-pip-version-check "${PYTHON_PACKAGES[@]}" >&2 ||
		die "could not install ${PYTHON_PACKAGES[*]} from PyPI; check network access to PyPI (or PIP_INDEX_URL)"
	printf '%s\n' "${PYTHON_PACKAGES[*]}" >"$pins"
}

make_fixtures() {
	local out=$1
	mkdir -p "$out"
	out=$(cd "$out" && pwd)
	say "rendering the OCR fixtures into $out"
	"$VENV/bin/python" "$ROOT/scripts/ocr_fixtures.py" --texts "$ROOT/tests/fixtures/ocr" --font "$FONT" \
		--out "$out" >&2 || die "scripts/ocr_fixtures.py failed"
	FIXTURES=$out
}

case "${1:-install}" in
install)
	install_tools
	print_env
	;;
env)
	works || die "the OCR tools are not installed in $PREFIX (or no longer run): run scripts/ocr.sh"
	print_env
	;;
fixtures)
	install_tools
	install_python
	make_fixtures "${2:-$DIR/fixtures}"
	print_env
	echo "ADBRAG_TEST_OCR_FIXTURES=$FIXTURES"
	;;
*)
	die "unknown command '$1': use install, env or fixtures"
	;;
esac
