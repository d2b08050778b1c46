#!/bin/sh
# Usage: check-exports.sh <nm> <shared object> <expected list>
# Fails unless the dynamic symbols the object defines are exactly the list.
set -eu
nm=$1 so=$2 expected=$3
actual=$("$nm" -D --defined-only "$so" | awk 'NF == 3 { print $3 }' | sed 's/@.*//' | sort -u)
want=$(grep -v '^#' "$expected" | sort -u)
if [ "$actual" != "$want" ]; then
	echo "exported symbols of $so differ from $expected:"
	printf '%s\n' "$want" >/tmp/clientid-exports.want.$$
	printf '%s\n' "$actual" | diff -u /tmp/clientid-exports.want.$$ - || true
	rm -f /tmp/clientid-exports.want.$$
	exit 1
fi
echo "ok: $(printf '%s\n' "$actual" | wc -l) exported symbols as listed"
