//go:build unix

package auditcli

import (
	"os"
	"syscall"
)

// foreignOwner returns the owner of a file that is neither the user the
// command runs as nor root, who can write it whatever its mode.
func foreignOwner(st os.FileInfo) (uid uint32, foreign bool) {
	s, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return s.Uid, s.Uid != 0 && int(s.Uid) != os.Getuid()
}

// openForReading opens name to read without waiting for a writer: a named
// pipe nothing writes to reads as empty at once, rather than hold the
// command in open (where no signal stops it); one a writer holds
// (`--basic-auth-file <(…)`) reads what it writes.
func openForReading(name string) (*os.File, error) {
	return os.OpenFile(name, os.O_RDONLY|syscall.O_NONBLOCK, 0)
}
