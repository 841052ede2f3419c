package auditcli

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// sqliteFiles are the files SQLite keeps next to a database.
var sqliteFiles = []string{"", "-wal", "-shm", "-journal"}

// checkOutput refuses an --output that is the SQLite database at dbPath
// (by any name: symlinks, hard links, relative paths) or one of its
// companion files, and an existing file unless force is set.
func checkOutput(output string, force bool, dbPath string) error {
	if dbPath != "" && isDatabaseFile(output, dbPath) {
		return usageError("--output %s is the database being exported (or one of its files): choose another file", termSafe(output))
	}
	st, err := os.Lstat(output)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return err
	case st.IsDir():
		return fmt.Errorf("%s is a directory", output)
	case !st.Mode().IsRegular():
		// The file is written whole, then renamed over the path: that
		// would replace a link, a named pipe or a device with a file,
		// and write nothing to what it names.
		return fmt.Errorf("%s is not a regular file (a symbolic link, a named pipe or a device): --output writes a file and renames it into place; write to standard output instead (leave out --output) and redirect it", output)
	case !force:
		return fmt.Errorf("%s already exists; pass --force to replace it", output)
	}
	return nil
}

func isDatabaseFile(output, dbPath string) bool {
	out, outErr := os.Stat(output)
	outName := resolvedName(output)
	dbName := resolvedName(dbPath)
	for _, suffix := range sqliteFiles {
		if outErr == nil {
			if st, err := os.Stat(dbPath + suffix); err == nil && os.SameFile(out, st) {
				return true
			}
		}
		// By name as well: the WAL or journal need not exist yet.
		if outName != "" && dbName != "" && outName == dbName+suffix {
			return true
		}
	}
	return false
}

// resolvedName is the absolute path of name with every symlink resolved,
// as far as it exists, a dangling one to the file it would create.
func resolvedName(name string) string {
	abs, err := filepath.Abs(name)
	if err != nil {
		return ""
	}
	if p, err := filepath.EvalSymlinks(abs); err == nil {
		return p
	}
	for range 40 {
		target, err := os.Readlink(abs)
		if err != nil {
			break
		}
		if !filepath.IsAbs(target) {
			target = filepath.Join(filepath.Dir(abs), target)
		}
		abs = filepath.Clean(target)
		if p, err := filepath.EvalSymlinks(abs); err == nil {
			return p
		}
	}
	dir, err := filepath.EvalSymlinks(filepath.Dir(abs))
	if err != nil {
		return abs
	}
	return filepath.Join(dir, filepath.Base(abs))
}

// writeFileAtomic writes a file through a temporary file in the same
// directory and renames it into place when write succeeded, so a failed
// write leaves no partial file and keeps an existing one. An existing file
// is replaced only when force is set, and keeps its permissions; a new one
// is readable by its owner only.
func writeFileAtomic(path string, force bool, dbPath string, write func(io.Writer) error) (err error) {
	if err := checkOutput(path, force, dbPath); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		// Not the temporary file's name, which the user never gave.
		return fmt.Errorf("cannot write %s: %s", path, pathError(err))
	}
	defer func() {
		if err != nil {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	if st, err := os.Stat(path); err == nil {
		if err := tmp.Chmod(st.Mode().Perm()); err != nil {
			return err
		}
	}
	if err := write(tmp); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	// Check again: the database or another file may have appeared meanwhile.
	if err := checkOutput(path, force, dbPath); err != nil {
		return err
	}
	if !force {
		// A hard link never replaces an existing file.
		if err := os.Link(tmp.Name(), path); err == nil {
			return os.Remove(tmp.Name())
		} else if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%s already exists; pass --force to replace it", path)
		}
	}
	return os.Rename(tmp.Name(), path)
}
