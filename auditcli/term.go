package auditcli

import (
	"fmt"
	"io"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/width"

	"github.com/go-auditlog/auditlog/internal/value"
)

// unsafeRune reports whether a terminal could act on r: C0 controls, DEL,
// C1 controls (U+009B is CSI, U+009D OSC), and the invisible characters that
// reorder or break text (bidi embeddings, overrides, isolates and marks,
// line and paragraph separators).
func unsafeRune(r rune) bool {
	switch {
	case r < 0x20, r >= 0x7f && r <= 0x9f:
		return true
	case value.Reorders(r):
		return true
	}
	return false
}

// appendTermSafe appends s with every unsafe rune written as \uXXXX (which
// is also a valid JSON escape) and every byte that is not UTF-8 as \xNN:
// visible, so a reader sees what was attempted. With layout, newlines and
// tabs are kept.
func appendTermSafe(b []byte, s []byte, layout bool) []byte {
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRune(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			b = fmt.Appendf(b, `\x%02x`, s[i])
		case layout && (r == '\n' || r == '\t'):
			b = append(b, s[i])
		case unsafeRune(r):
			b = fmt.Appendf(b, `\u%04x`, r)
		default:
			b = append(b, s[i:i+n]...)
		}
		i += n
	}
	return b
}

// termSafe is s for one line or cell on a terminal: every unsafe rune,
// newlines and tabs included, escaped.
func termSafe(s string) string {
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && n == 1) || unsafeRune(r) {
			return string(appendTermSafe([]byte(s[:i]), []byte(s[i:]), false))
		}
		i += n
	}
	return s
}

// termWriter escapes what a terminal would act on in a stream, keeping
// newlines and tabs. A rune split between writes is held until the next
// write or Flush.
type termWriter struct {
	w       io.Writer
	pending []byte
	buf     []byte
}

func (t *termWriter) Write(p []byte) (int, error) {
	data := append(t.pending, p...)
	end := len(data)
	for i := max(0, len(data)-utf8.UTFMax+1); i < len(data); i++ {
		if utf8.RuneStart(data[i]) && !utf8.FullRune(data[i:]) {
			end = i
			break
		}
	}
	t.buf = appendTermSafe(t.buf[:0], data[:end], true)
	t.pending = append([]byte(nil), data[end:]...)
	if _, err := t.w.Write(t.buf); err != nil {
		return 0, err
	}
	return len(p), nil
}

// forTerminal is w with what a terminal would act on escaped (see
// termWriter) when terminal is set, and w itself, exact, when not; done
// writes what the escaping holds back and must be called at the end.
func forTerminal(w io.Writer, terminal bool) (out io.Writer, done func() error) {
	if !terminal {
		return w, func() error { return nil }
	}
	tw := &termWriter{w: w}
	return tw, tw.Flush
}

// Flush writes a trailing incomplete rune, escaped.
func (t *termWriter) Flush() error {
	if len(t.pending) == 0 {
		return nil
	}
	_, err := t.w.Write(appendTermSafe(nil, t.pending, true))
	t.pending = nil
	return err
}

// messageWriter is stderr for messages: passwords redacted (see redactor),
// terminal controls escaped but newlines and tabs kept.
type messageWriter struct {
	r *redactor
	w io.Writer
}

func (m messageWriter) Write(p []byte) (int, error) {
	s := m.r.redact(string(p))
	if _, err := m.w.Write(appendTermSafe(nil, []byte(s), true)); err != nil {
		return 0, err
	}
	return len(p), nil
}

// runeWidth is how many terminal columns r takes: 2 for East Asian wide
// and fullwidth characters (CJK, most emoji), 0 for combining marks and
// invisible format characters, 1 otherwise.
func runeWidth(r rune) int {
	switch {
	case unicode.In(r, unicode.Mn, unicode.Me, unicode.Cf):
		return 0
	}
	switch width.LookupRune(r).Kind() {
	case width.EastAsianWide, width.EastAsianFullwidth:
		return 2
	}
	return 1
}

// textWidth is how many terminal columns s takes.
func textWidth(s string) int {
	n := 0
	for _, r := range s {
		n += runeWidth(r)
	}
	return n
}

// fitCell is s escaped for the terminal (see termSafe) and, if it takes
// more than limit columns, cut on a character boundary (never inside a
// character or an escape) to end in "..." within limit.
func fitCell(s string, limit int) string {
	safe := termSafe(s)
	if textWidth(safe) <= limit {
		return safe
	}
	var b []byte
	n := 0
	for i := 0; i < len(s); {
		_, size := utf8.DecodeRuneInString(s[i:])
		piece := termSafe(s[i : i+size])
		if w := textWidth(piece); n+w <= limit-3 {
			b = append(b, piece...)
			n += w
		} else {
			break
		}
		i += size
	}
	return string(b) + "..."
}
