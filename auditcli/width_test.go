package auditcli_test

import (
	"context"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"golang.org/x/text/width"

	"github.com/go-auditlog/auditlog"
)

// columns is how many terminal columns s takes.
func columns(s string) int {
	n := 0
	for _, r := range s {
		switch width.LookupRune(r).Kind() {
		case width.EastAsianWide, width.EastAsianFullwidth:
			n += 2
		default:
			n++
		}
	}
	return n
}

// history cuts long change text on a rune boundary, to at most 120
// terminal columns, and aligns its columns by display width, so wide
// (CJK, emoji) and multi-byte text neither breaks into � nor shifts the
// table.
func TestHistoryMultiByteText(t *testing.T) {
	t.Parallel()
	path, s := seeded(t)
	id := int64(1)
	var es []auditlog.Entry
	for i, text := range []string{strings.Repeat("ü", 200), strings.Repeat("漢字", 100), strings.Repeat("😀", 100), "a" + strings.Repeat("é", 150)} {
		ch, _ := auditlog.NewChange("", text)
		es = append(es, auditlog.Entry{Timestamp: time.Date(2026, 1, 8, i, 0, 0, 0, time.UTC), Action: auditlog.ActionUpdate, Model: "books",
			ObjectPK: "1", ObjectID: &id, ObjectRepr: []string{"Dune", "砂の惑星", "Düne", "🏜"}[i], Changes: auditlog.Changes{"title": ch},
			ActorName: []string{"ålice", "李", "bob", "x"}[i], CorrelationID: "req-x"})
	}
	if err := s.Insert(context.Background(), es); err != nil {
		t.Fatal(err)
	}
	r := run(t, "", false, "history", "--db", path, "books", "1")
	if r.code != 0 {
		t.Fatalf("%+v", r)
	}
	if !utf8.ValidString(r.stdout) || strings.ContainsRune(r.stdout, utf8.RuneError) {
		t.Fatalf("history output is broken UTF-8:\n%s", r.stdout)
	}
	lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	header := lines[0]
	col := columns(header[:strings.Index(header, "CORRELATION")])
	chCol := columns(header[:strings.Index(header, "CHANGES")])
	for _, l := range lines[1:] {
		i := strings.Index(l, "req-")
		if i < 0 || columns(l[:i]) != col {
			t.Errorf("CORRELATION is not at column %d in %q", col, l)
		}
		changes := strings.TrimLeft(l[i+len("req-x"):], " ")
		if columns(l[:len(l)-len(changes)]) != chCol {
			t.Errorf("CHANGES is not at column %d in %q", chCol, l)
		}
		if strings.Contains(changes, `\x`) {
			t.Errorf("changes were cut inside a character: %q", changes)
		}
		if columns(changes) > 120 {
			t.Errorf("changes take %d columns: %q", columns(changes), changes)
		}
		if strings.HasPrefix(changes, "title:") && !strings.HasSuffix(changes, "...") {
			t.Errorf("long changes are not marked as cut: %q", changes)
		}
	}
}
