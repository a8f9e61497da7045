#!/bin/sh
# After removing the wharf package (.deb: "remove", "purge", "upgrade", …;
# .rpm: 0 on erase, 1 on upgrade).
#
# The data stays, always, even on purge: /var/lib/wharf holds the users'
# files and the database, and no package manager command should be able to
# delete them by accident. Purge removes /etc/wharf (dpkg drops the
# conffile; this script removes the directory if it is then empty) and
# says how to delete the data by hand.
set -e

case "${1:-}" in
remove | purge | 0) ;;
*) exit 0 ;;
esac

if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
	systemctl daemon-reload || true
fi

if [ "$1" = purge ]; then
	rmdir /etc/wharf 2>/dev/null || true
fi

# systemd's DynamicUser keeps the data in /var/lib/private/wharf, reached
# through the link /var/lib/wharf.
if [ -e /var/lib/wharf ] || [ -e /var/lib/private/wharf ]; then
	cat <<'MSG'
wharf: the data in /var/lib/wharf (files, users, database) was kept.
To delete it for good:
    rm -rf /var/lib/private/wharf /var/lib/wharf
MSG
fi
exit 0
