#!/bin/sh
# licenses.sh BINARY: the license texts of everything linked into the Go
# binary (the Go standard library and each module "go version -m" lists),
# for /usr/share/doc/wharf/third-party-licenses.txt. The texts come from the
# module cache the binary was just built from; a module without a license
# file there is an error, not a silent gap.
set -eu
bin=$1
go=${GO:-go}
modcache=$($go env GOMODCACHE)
goroot=$($go env GOROOT)

printf 'Wharf is licensed under the Apache License, Version 2.0 (see\n/usr/share/doc/wharf/copyright). It is built with Go and the Go modules\nbelow. Their licenses follow.\n'
printf '\n==== Go (%s)\n\n' "$($go env GOVERSION)"
cat "$goroot/LICENSE"

# "dep" lines: dep PATH VERSION SUM; a replaced module is followed by a
# "=>" line naming the module actually built.
$go version -m "$bin" | awk '
	$1 == "dep" { if (path != "") print path, ver; path = $2; ver = $3 }
	$1 == "=>"  { path = $2; ver = $3 }
	END         { if (path != "") print path, ver }
' | while read -r path ver; do
	# The module cache spells upper-case letters as "!" + lower case.
	dir="$modcache/$(printf '%s' "$path" | sed 's/[A-Z]/!&/g' | tr 'A-Z' 'a-z')@$ver"
	found=
	for f in "$dir"/LICENSE* "$dir"/LICENCE* "$dir"/COPYING* "$dir"/license* "$dir"/UNLICENSE*; do
		[ -f "$f" ] || continue
		printf '\n==== %s %s (%s)\n\n' "$path" "$ver" "$(basename "$f")"
		cat "$f"
		found=yes
	done
	if [ -z "$found" ]; then
		echo "licenses.sh: no license file for $path $ver in $dir" >&2
		exit 1
	fi
done
