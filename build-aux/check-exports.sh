#!/bin/sh
# Usage: check-exports.sh <nm> <shared object> <version script (.map)>
# Fails unless the dynamic symbols the object defines are exactly the names
# in the global: section of the version script.
set -eu
nm=$1 so=$2 map=$3
actual=$("$nm" -D --defined-only "$so" | awk 'NF == 3 { print $3 }' | sed 's/@.*//' | sort -u)
want=$(sed -n '/global:/,/local:/s/^[[:space:]]*\([A-Za-z_][A-Za-z0-9_]*\);.*/\1/p' "$map" |
	sort -u)
if [ -z "$want" ]; then
	echo "no global: names in $map"
	exit 1
fi
if [ "$actual" != "$want" ]; then
	echo "exported symbols of $so differ from $map:"
	printf '%s\n' "$want" >/tmp/clientid-exports.want.$$
	printf '%s\n' "$actual" | diff -u /tmp/clientid-exports.want.$$ - || true
	rm -f /tmp/clientid-exports.want.$$
	exit 1
fi
echo "ok: $(printf '%s\n' "$actual" | wc -l) exported symbols as $map lists"
