#!/usr/bin/env bash
# Build the corpora of the retrieval development sets (eval/dev-en.jsonl, eval/dev-zh.jsonl): the
# Debian Reference in English and in Simplified Chinese, one HTML file per section.
#
#   scripts/devsets.sh     download the packages if needed, then rewrite eval/corpora/en and eval/corpora/zh
#
# The Debian packages debian-reference-en and debian-reference-zh-cn are fetched with
# `apt-get download` (into the cache folder, nothing is installed) and unpacked with `dpkg-deb -x`;
# scripts/devsets_split.py splits each chapter into sections (rule in eval/README.md).
# The relevance labels name section files of one version of the manual, so the version is pinned
# ($VERSION below, each .deb checked against its sha256): a run refuses any other version.
#
# Idempotent: packages already in the cache are reused; the corpora are rebuilt from them each run
# and come out the same. Messages go to stderr.
#
# Settings (environment):
#   ADBRAG_DEVSETS_CACHE         where the .deb files and their unpacked trees live   (default <repo>/eval/corpora/.cache)
#   ADBRAG_DEVSETS_ANY_VERSION   1 to accept a version other than $VERSION: the corpora are built,
#                                but the labels in eval/*.jsonl may name sections that moved
set -euo pipefail

VERSION=2.100 # the version the labels in eval/dev-en.jsonl and eval/dev-zh.jsonl were written for
PACKAGES=(debian-reference-en debian-reference-zh-cn)
declare -A SHA256=(
	['debian-reference-en']=9f31d3a17df505de09689ca255512ea58c1fc47c59bb1b0c7bf1c23362e9743f
	['debian-reference-zh-cn']=6d2d8d9a646397e28b04cdff23d2e4374101ebf9be348e35961af62c8a2d0977
)
declare -A LANG_OF=(['debian-reference-en']=en ['debian-reference-zh-cn']=zh-cn) # the chapter files' suffix
declare -A OUT_OF=(['debian-reference-en']=en ['debian-reference-zh-cn']=zh)      # eval/corpora/<this>

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CORPORA=$ROOT/eval/corpora
CACHE=${ADBRAG_DEVSETS_CACHE:-$CORPORA/.cache}
case $CACHE in /*) ;; *) CACHE=$PWD/$CACHE ;; esac
ANY_VERSION=${ADBRAG_DEVSETS_ANY_VERSION:-0}

say() { printf 'devsets.sh: %s\n' "$*" >&2; }
die() {
	printf 'devsets.sh: error: %s\n' "$*" >&2
	exit 1
}

for tool in apt-get apt-cache dpkg-deb python3 sha256sum; do
	command -v "$tool" >/dev/null || die "$tool is missing: this script needs a Debian or Ubuntu system with python3"
done

# apt-get download drops privileges to _apt, which cannot write a root-owned cache; as root, stay root
# (the download is only a file written into the cache, nothing is installed).
apt_opts=()
[ "$(id -u)" -eq 0 ] && apt_opts=(-oAPT::Sandbox::User=root)

candidate_of() { apt-cache policy "$1" 2>/dev/null | awk '/Candidate:/ { print $2; exit }'; }

apt_updated=
apt_update_once() {
	[ -n "$apt_updated" ] && return
	[ "$(id -u)" -eq 0 ] || die "apt's package lists do not offer $1; run 'sudo apt-get update' and try again"
	say "apt-get update (the package lists do not offer $1)"
	apt-get update -qq >/dev/null
	apt_updated=1
}

# Download one package into the cache (if it is not there already), print the .deb's path.
fetch() {
	local pkg=$1 want=$VERSION deb candidate
	candidate=$(candidate_of "$pkg")
	say "$pkg: apt candidate version ${candidate:-(none)}, labels written for $VERSION"
	deb=$(find "$CACHE" -maxdepth 1 -name "${pkg}_${want}_all.deb" | head -n 1)
	if [ -z "$deb" ] && [ "$ANY_VERSION" = 1 ] && [ -n "$candidate" ] && [ "$candidate" != "$VERSION" ]; then
		want=$candidate
		deb=$(find "$CACHE" -maxdepth 1 -name "${pkg}_${want//:/%3a}_all.deb" | head -n 1)
	fi
	if [ -z "$deb" ]; then
		say "downloading $pkg=$want"
		if ! (cd "$CACHE" && apt-get "${apt_opts[@]}" download -qq "$pkg=$want" >/dev/null 2>&1); then
			apt_update_once "$pkg=$want"
			(cd "$CACHE" && apt-get "${apt_opts[@]}" download -qq "$pkg=$want" >/dev/null) || {
				[ "$ANY_VERSION" = 1 ] || die "cannot download $pkg=$VERSION, the version the labels were written for (apt offers ${candidate:-nothing}). Either fetch that version (e.g. from snapshot.debian.org) into $CACHE, or set ADBRAG_DEVSETS_ANY_VERSION=1 to build from the version apt offers and re-check the labels"
				die "cannot download $pkg=$want; check access to the Debian mirror"
			}
		fi
		deb=$CACHE/${pkg}_${want//:/%3a}_all.deb
		[ -f "$deb" ] || die "apt-get download reported success but $deb is missing"
	fi
	printf '%s\n' "$deb"
}

# Refuse a package that is not the pinned one, unless told otherwise.
check() {
	local pkg=$1 deb=$2 version sum problem=
	version=$(dpkg-deb -f "$deb" Version)
	sum=$(sha256sum "$deb" | cut -d' ' -f1)
	say "$pkg $version sha256 $sum"
	if [ "$version" != "$VERSION" ]; then
		problem="$deb is $pkg $version, but the labels in eval/*.jsonl were written for $VERSION"
	elif [ "$sum" != "${SHA256[$pkg]}" ]; then
		problem="$deb is $pkg $VERSION but not the build the labels were written for (sha256 $sum, expected ${SHA256[$pkg]})"
	fi
	if [ -n "$problem" ]; then
		[ "$ANY_VERSION" = 1 ] ||
			die "$problem. Delete it and run again to fetch $pkg=$VERSION (or put that .deb in $CACHE by hand, e.g. from snapshot.debian.org), or set ADBRAG_DEVSETS_ANY_VERSION=1 to build anyway: the section files the labels name may then hold other text, so re-check the labels before trusting any score"
		say "warning: $problem; ADBRAG_DEVSETS_ANY_VERSION=1, building anyway: the labels may be wrong"
	fi
	printf '%s\n' "$version"
}

mkdir -p "$CACHE"
sources=()
for pkg in "${PACKAGES[@]}"; do
	deb=$(fetch "$pkg")
	version=$(check "$pkg" "$deb")
	tree=$CACHE/$pkg
	rm -rf "$tree"
	mkdir -p "$tree"
	dpkg-deb -x "$deb" "$tree" # unpack only: installing could upgrade packages under running services
	src=$tree/usr/share/debian-reference
	[ -f "$src/ch01.${LANG_OF[$pkg]}.html" ] || die "$deb holds no $src/ch01.${LANG_OF[$pkg]}.html: has the package layout changed?"
	python3 "$ROOT/scripts/devsets_split.py" "$src" "${LANG_OF[$pkg]}" "$CORPORA/${OUT_OF[$pkg]}"
	sources+=("$pkg $version sha256:$(sha256sum "$deb" | cut -d' ' -f1) -> eval/corpora/${OUT_OF[$pkg]}")
done
printf '%s\n' "${sources[@]}" >"$CORPORA/SOURCE"
say "done: $(find "$CORPORA/en" -name '*.html' | wc -l) English and $(find "$CORPORA/zh" -name '*.html' | wc -l) Chinese section files; next:"
say "  adbrag ingest eval/corpora/en --collection dev-en && adbrag eval eval/dev-en.jsonl --collection dev-en"
