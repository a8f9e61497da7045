#!/bin/sh
# Before removing the wharf package (.deb: "remove", or "upgrade" on the way
# to a new version; .rpm: 0 on erase, 1 on upgrade). On removal the service
# is stopped and disabled, so that systemd does not keep a unit whose
# binary is gone. An upgrade leaves it running (postinstall restarts it).
set -e

case "${1:-}" in
remove | 0) ;;
*) exit 0 ;;
esac

if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
	systemctl disable --now wharf.service >/dev/null 2>&1 || true
fi
exit 0
