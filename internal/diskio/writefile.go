package diskio

import (
	"os"
	"path/filepath"
)

// WriteFile replaces name with data, readable and writable by its owner
// only (0600, whatever the umask): a temporary file in the same directory,
// fsynced, renamed over name, and the directory fsynced, so that a crash
// leaves the old content or the new one, never a mix or nothing.
func WriteFile(name string, data []byte) error {
	dir := filepath.Dir(name)
	f, err := os.CreateTemp(dir, "."+filepath.Base(name)+".tmp-*") // 0600
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, name)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
