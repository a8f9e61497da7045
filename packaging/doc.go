// Package packaging holds only the packaging files — the systemd unit, the
// launchd daemon, the nfpm configuration, the packaged wharf.toml and the
// scripts "make package" runs — and their tests. It has no code of its own:
// nothing imports it.
package packaging
