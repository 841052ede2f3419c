package auditcli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/auditrelay"
)

// relay --to jsonl:FILE wrote on into the file it opened after a log
// rotation renamed it or it was deleted: the relay saved its position past
// entries no reader of the path saw. Each round opens the path anew where
// it names another file, or none.
func TestRelayFileRenamedOrDeleted(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.jsonl")
	f, err := openJSONL(path)
	if err != nil {
		t.Fatal(err)
	}
	r := &reopeningJSONL{path: path, name: "jsonl:" + path, f: f, sink: auditrelay.NewJSONL(f, "jsonl:"+path)}
	defer r.close()
	publish := func(id int64) {
		t.Helper()
		e := auditlog.Entry{ID: id, Timestamp: time.Now(), Action: auditlog.ActionCreate, Model: "books", ObjectPK: "1", ObjectRepr: "b"}
		if err := r.Publish(context.Background(), []auditlog.Entry{e}); err != nil {
			t.Fatal(err)
		}
	}
	lines := func(p string) int {
		t.Helper()
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return strings.Count(string(b), "\n")
	}
	publish(1)
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	publish(2)
	if lines(path+".1") != 1 || lines(path) != 1 {
		t.Errorf("after a rename: %d lines in the renamed file, %d in the path", lines(path+".1"), lines(path))
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	publish(3)
	if lines(path) != 1 {
		t.Errorf("after a delete: %d lines in the path", lines(path))
	}
	publish(4)
	if lines(path) != 2 {
		t.Errorf("the next round: %d lines in the path", lines(path))
	}
}
