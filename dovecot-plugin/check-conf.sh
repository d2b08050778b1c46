#!/bin/sh
# Usage: check-conf.sh <95-clientid.conf>
# The conf.d snippet must parse with the installed doveconf, as shipped and
# with its commented import_environment line enabled, and must load the
# plugin inside protocol imap {}.
set -eu
snippet=$1
if ! command -v doveconf >/dev/null 2>&1; then
	echo "SKIP: doveconf not found (install dovecot-core)"
	exit 77
fi
dir=$(mktemp -d /tmp/clientid-conf-check.XXXXXX)
trap 'rm -rf "$dir"' EXIT
mkdir "$dir/conf.d"
printf 'protocols = imap\n!include conf.d/*.conf\n' >"$dir/dovecot.conf"

cp "$snippet" "$dir/conf.d/95-clientid.conf"
out=$(doveconf -n -c "$dir/dovecot.conf")
printf '%s\n' "$out" | grep -Eq '^ *login_plugins = .*clientid' ||
	{ echo "login_plugins does not load clientid:"; printf '%s\n' "$out"; exit 1; }

sed 's/^#import_environment/import_environment/' "$snippet" >"$dir/conf.d/95-clientid.conf"
out=$(doveconf -n -c "$dir/dovecot.conf")
printf '%s\n' "$out" | grep -Eq '^import_environment = TZ .*CLIENTID_IMAP_ENABLE=yes' ||
	{ echo "import_environment lost Debian's defaults or the setting:"; printf '%s\n' "$out"; exit 1; }
echo "ok: 95-clientid.conf parses as shipped and with its settings enabled"
