// Package lines tells whether a file of lines ends in the middle of one:
// an append a crash or a full disk cut short (auditseal's witness file,
// auditrelay's JSON Lines).
package lines

import "os"

// EndsOpen reports whether f, a regular file, ends without a newline, and
// whether it could tell (it is regular and can be read). An empty file
// ends no line open.
func EndsOpen(f *os.File) (open, known bool) {
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		return false, false
	}
	if st.Size() == 0 {
		return false, true
	}
	var last [1]byte
	if _, err := f.ReadAt(last[:], st.Size()-1); err != nil {
		return false, false
	}
	return last[0] != '\n', true
}
