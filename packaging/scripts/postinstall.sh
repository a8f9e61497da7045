#!/bin/sh
# After installing or upgrading the wharf package (.deb: "configure" [OLD];
# .rpm: 1 on install, 2 on upgrade). Nothing is enabled or started here: the
# admin decides when Wharf runs. An upgrade restarts a service that was
# running, so that it does not keep running the old binary.
set -e

case "${1:-}" in
configure | 1 | 2 | "") ;;
*) exit 0 ;; # abort-upgrade and the like: nothing to do
esac

upgrade=no
case "${1:-}" in
configure) [ -n "${2:-}" ] && upgrade=yes ;;
2) upgrade=yes ;;
esac

if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
	systemctl daemon-reload || true
	if [ "$upgrade" = yes ]; then
		if systemctl is-active --quiet wharf.service; then
			echo "wharf: restarting wharf.service on the new version"
			systemctl try-restart wharf.service || true
		fi
		exit 0
	fi
fi

if [ "$upgrade" = no ]; then
	cat <<'MSG'
wharf is installed but not running. Settings: /etc/wharf/wharf.toml.
Next step:
    systemctl enable --now wharf
The first start creates the user "admin" and writes its password to
    /var/lib/wharf/initial-admin-password
(journalctl -u wharf says so); read it, then delete the file.
Data lives in /var/lib/wharf. More in the wharf(1) manual page.
MSG
fi
exit 0
