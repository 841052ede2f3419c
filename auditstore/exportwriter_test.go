package auditstore_test

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/auditstore"
)

// One writer serves every export: CSV with a header and every stored-text
// cell guarded against formulas, JSON Lines as ExportRecord.
func TestExportWriter(t *testing.T) {
	t.Parallel()
	ch, _ := auditlog.NewChange(-1, 2)
	e := auditlog.Entry{ID: 7, Timestamp: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Action: auditlog.ActionUpdate,
		Model: "=cmd", ObjectPK: "+1", ObjectRepr: "@x", Changes: auditlog.Changes{"n": ch}, RemoteAddr: "-1", RemotePort: 443}
	var csvOut strings.Builder
	w, err := auditstore.NewExportWriter(&csvOut, "csv")
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(e); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(csvOut.String()), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "id,timestamp,action,model") {
		t.Fatalf("csv:\n%s", csvOut.String())
	}
	for _, want := range []string{"'=cmd", "'+1", "'@x", "'-1", ",443,"} {
		if !strings.Contains(lines[1], want) {
			t.Errorf("csv row %q lacks %q", lines[1], want)
		}
	}
	var jsonOut strings.Builder
	w, err = auditstore.NewExportWriter(&jsonOut, "jsonl")
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(e); err != nil {
		t.Fatal(err)
	}
	var rec auditstore.ExportRecord
	if err := json.Unmarshal([]byte(jsonOut.String()), &rec); err != nil {
		t.Fatal(err)
	}
	if rec.ID != 7 || rec.Model != "=cmd" || rec.Action != "update" || rec.Timestamp != "2026-01-02T03:04:05Z" || rec.Changes.String() != "n: -1 → 2" {
		t.Fatalf("record %+v", rec)
	}
	if _, err := auditstore.NewExportWriter(&jsonOut, "xml"); err == nil {
		t.Fatal("xml accepted")
	}
}

// The CSV tells an integer key 7 (object_id 7) from a text key "7", as
// the JSON Lines do: they were one row.
func TestExportCSVHasTheObjectID(t *testing.T) {
	t.Parallel()
	seven := int64(7)
	var out strings.Builder
	w, err := auditstore.NewExportWriter(&out, "csv")
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, e := range []auditlog.Entry{
		{ID: 1, Timestamp: at, Action: auditlog.ActionUpdate, Model: "m", ObjectPK: "7", ObjectID: &seven, ObjectRepr: "r"},
		{ID: 2, Timestamp: at, Action: auditlog.ActionUpdate, Model: "m", ObjectPK: "7", ObjectRepr: "r"},
	} {
		if err := w.Write(e); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(strings.NewReader(out.String())).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	col := slices.Index(rows[0], "object_id")
	if col < 0 || rows[1][col] != "7" || rows[2][col] != "" {
		t.Fatalf("csv:\n%s", out.String())
	}
}

// A CSV of no entries is its header (an empty table), not an empty file;
// JSON Lines of none are no lines.
func TestExportOfNoEntries(t *testing.T) {
	t.Parallel()
	for format, want := range map[string]string{"csv": strings.Join(csvHeaderForTest, ",") + "\n", "jsonl": ""} {
		var b bytes.Buffer
		w, err := auditstore.NewExportWriter(&b, format)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		if err := w.Flush(); err != nil { // once
			t.Fatal(err)
		}
		if b.String() != want {
			t.Errorf("%s of no entries: %q, want %q", format, b.String(), want)
		}
	}
}

var csvHeaderForTest = []string{"id", "timestamp", "action", "model", "object_pk", "object_repr", "changes", "actor_id", "actor_name", "remote_addr", "remote_port", "cid", "additional_data", "serialized_data", "unreadable", "object_id"}

// A spreadsheet in a locale whose separator is ';' (or one told to split
// at tabs) split the cell "Bob;=1+1;x" and evaluated the formula that
// began a cell inside it; quoting would not keep it from splitting, since
// there the cell begins earlier in the line. A formula after ';', a tab
// or a line break is guarded as one at the start is.
func TestExportCSVGuardsFormulasAfterOtherSeparators(t *testing.T) {
	t.Parallel()
	e := auditlog.Entry{ID: 1, Timestamp: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Action: auditlog.ActionCreate,
		Model: "m;=1+1", ObjectPK: "k\t=2+2", ObjectRepr: "Bob;=1+1;x", ActorName: `a "b";-c`, ActorID: "x\n@y\r\n+z",
		CorrelationID: "plain;text"}
	var out strings.Builder
	w, err := auditstore.NewExportWriter(&out, "csv")
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(e); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	for _, sep := range []rune{',', ';', '\t'} {
		r := csv.NewReader(strings.NewReader(out.String()))
		r.Comma, r.LazyQuotes, r.FieldsPerRecord = sep, true, -1
		rows, err := r.ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		for _, row := range rows {
			for _, cell := range row {
				for _, line := range strings.Split(strings.ReplaceAll(cell, "\r", "\n"), "\n") {
					if line != "" && strings.ContainsRune("=+-@", rune(line[0])) {
						t.Errorf("split at %q, a cell begins a formula: %q", sep, cell)
					}
				}
			}
		}
	}
	rows, err := csv.NewReader(strings.NewReader(out.String())).ReadAll()
	if err != nil || len(rows) != 2 {
		t.Fatalf("read back: %q, %v", rows, err)
	}
	for i, want := range map[int]string{3: "m;'=1+1", 4: "k\t'=2+2", 5: "Bob;'=1+1;x", 7: "x\n'@y\n'+z", 8: `a "b";'-c`, 11: "plain;text"} {
		if rows[1][i] != want {
			t.Errorf("cell %d: %q, want %q", i, rows[1][i], want)
		}
	}
}

// A value that begins with ' exported as the guarded form of the formula
// after it: the keys "=1+1" and "'=1+1" were one cell. The quote is
// guarded too.
func TestExportCSVTellsAGuardFromAQuote(t *testing.T) {
	t.Parallel()
	var out strings.Builder
	w, err := auditstore.NewExportWriter(&out, "csv")
	if err != nil {
		t.Fatal(err)
	}
	for i, pk := range []string{"=1+1", "'=1+1", "a;'b", "it's", " =2", "a;  =3", "a\n =4", "a =5"} {
		if err := w.Write(auditlog.Entry{ID: int64(i + 1), Timestamp: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Action: auditlog.ActionCreate, Model: "m", ObjectPK: pk}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(strings.NewReader(out.String())).ReadAll()
	if err != nil || len(rows) != 9 {
		t.Fatalf("%q, %v", rows, err)
	}
	// Spaces before a formula, which a spreadsheet may trim, are passed
	// over.
	for i, want := range []string{"'=1+1", "''=1+1", "a;''b", "it's", " '=2", "a;  '=3", "a\n '=4", "a =5"} {
		if rows[i+1][4] != want {
			t.Errorf("key %d: %q, want %q", i, rows[i+1][4], want)
		}
	}
}
