package auditstore_test

import (
	"encoding/json"
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
