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
