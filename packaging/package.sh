#!/bin/sh
# package.sh BINARY VERSION DIST: build the .deb and .rpm of Wharf into DIST
# from a binary built for Linux (make package builds it). Run from the
# repository root. The manual page, the shell completions and the license
# texts are generated here from the binary; none of them is committed.
set -eu
bin=$1 version=$2 dist=$3
go=${GO:-go}

[ -f packaging/wharf.toml ] || { echo "package.sh: packaging/wharf.toml is missing" >&2; exit 1; }
case $($go version -m "$bin" | awk '$1 == "build" && $2 ~ /^GOOS=/ { print $2 }') in
GOOS=linux) ;;
*) echo "package.sh: $bin is not a Linux binary" >&2; exit 1 ;;
esac
arch=$($go version -m "$bin" | awk '$1 == "build" && $2 ~ /^GOARCH=/ { sub("GOARCH=", "", $2); print $2 }')

mkdir -p "$dist"
stage=$(mktemp -d "${TMPDIR:-/tmp}/wharf-package.XXXXXX")
trap 'rm -rf "$stage"' EXIT
cp "$bin" "$stage/wharf"
"$bin" man | gzip -9n >"$stage/wharf.1.gz"
"$bin" completion bash >"$stage/wharf.bash"
"$bin" completion zsh >"$stage/_wharf"
"$bin" completion fish >"$stage/wharf.fish"
GO=$go packaging/licenses.sh "$bin" | gzip -9n >"$stage/third-party-licenses.txt.gz"

# Reproducible: every file's time is the last commit's (or the epoch).
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 0)}
WHARF_STAGE=$stage WHARF_ARCH=$arch WHARF_PKG_VERSION=$(packaging/version.sh "$version")
export SOURCE_DATE_EPOCH WHARF_STAGE WHARF_ARCH WHARF_PKG_VERSION
for packager in deb rpm; do
	$go tool -modfile=tools/go.mod nfpm package --config packaging/nfpm.yaml \
		--packager "$packager" --target "$dist/"
done
