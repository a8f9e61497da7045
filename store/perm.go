package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// FileMode is the mode of every file that holds the database: the database
// itself, its -wal and -shm files, the copies taken before an upgrade and
// the snapshots of backups. They hold secrets (the URL signing key, the
// enqueue keys of Phraseanet targets), so only the owner may read them,
// whatever the umask and the mode of the directory they are in.
const FileMode fs.FileMode = 0o600

// sidecars are the suffixes of the files SQLite keeps beside a database.
var sidecars = []string{"-wal", "-shm", "-journal"}

// secureFiles prepares path for opening: it creates the database file with
// FileMode if it is missing (SQLite gives its -wal, -shm and -journal files
// the mode of the database file), and narrows to FileMode the database,
// the files beside it and the pre-upgrade copies in BackupDir that an
// older Wharf, or a looser umask, left readable by others.
func secureFiles(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, FileMode)
	if err == nil {
		// New: exactly FileMode, even under a umask that takes the
		// owner's bits.
		err = f.Chmod(FileMode)
		f.Close()
	} else if errors.Is(err, fs.ErrExist) {
		err = nil
	}
	if err != nil {
		return err
	}
	names := []string{path}
	for _, s := range sidecars {
		names = append(names, path+s)
	}
	dir := filepath.Join(filepath.Dir(path), BackupDir)
	if entries, err := os.ReadDir(dir); err == nil {
		prefix := filepath.Base(path) + ".schema-"
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), prefix) && strings.HasSuffix(e.Name(), ".bak") {
				names = append(names, filepath.Join(dir, e.Name()))
			}
		}
	}
	for _, name := range names {
		if err := narrow(name); err != nil {
			return err
		}
	}
	return nil
}

// narrow sets a regular file's mode to FileMode if it grants more; a
// missing file is left missing.
func narrow(name string) error {
	fi, err := os.Lstat(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() || fi.Mode().Perm()&^FileMode == 0 {
		return nil
	}
	if err := os.Chmod(name, FileMode); err != nil {
		return fmt.Errorf("make %s readable by its owner only: %w", name, err)
	}
	return nil
}
