#!/bin/sh
# version.sh VERSION: the package version for a Wharf version string as the
# Makefile makes it (git describe --tags --always --dirty, or "dev").
# nfpm reads the result as semver and writes it the way dpkg and rpm order
# versions (a pre-release becomes "~pre", metadata "+meta"):
#
#   v1.2.3                -> 1.2.3
#   v1.2.3-rc.1           -> 1.2.3-rc.1              (1.2.3~rc.1: before 1.2.3)
#   v1.2.3-4-gabc1234     -> 1.2.3+git.4.gabc1234    (after 1.2.3)
#   abc1234 (no tag yet)  -> 0.0.0-git.N.gabc1234    (N = commits so far, so
#                                                     later builds sort later)
#   dev, anything else    -> 0.0.0-dev
#
# A -dirty suffix (uncommitted changes) is kept as a last ".dirty" part.
set -eu
v=${1:-dev}
dirty=
case $v in *-dirty) v=${v%-dirty}; dirty=.dirty ;; esac

semver='[0-9][0-9]*\.[0-9][0-9]*\.[0-9][0-9]*'
if printf '%s\n' "$v" | grep -Eq "^v?$semver-[0-9]+-g[0-9a-f]+$"; then
	# commits after a tag: v1.2.3-4-gabc1234
	base=$(printf '%s\n' "$v" | sed -E 's/^v?([0-9]+\.[0-9]+\.[0-9]+)-([0-9]+)-g([0-9a-f]+)$/\1/')
	meta=$(printf '%s\n' "$v" | sed -E 's/^v?[0-9]+\.[0-9]+\.[0-9]+-([0-9]+)-g([0-9a-f]+)$/git.\1.g\2/')
	echo "$base+$meta$dirty"
elif printf '%s\n' "$v" | grep -Eq "^v?$semver(-[0-9A-Za-z.]+)?$"; then
	# a release tag, perhaps a pre-release: v1.2.3, v1.2.3-rc.1
	v=${v#v}
	if [ -n "$dirty" ]; then
		case $v in *-*) echo "$v$dirty" ;; *) echo "$v+dirty" ;; esac
	else
		echo "$v"
	fi
elif printf '%s\n' "$v" | grep -Eq '^[0-9a-f]{7,40}$'; then
	# no tag yet: the abbreviated commit
	n=$(git rev-list --count HEAD 2>/dev/null || echo 0)
	echo "0.0.0-git.$n.g$v$dirty"
else
	echo "0.0.0-dev$dirty"
fi
