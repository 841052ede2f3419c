package auditrelay_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/auditrelay"
)

func tornEntries(ids ...int64) []auditlog.Entry {
	var es []auditlog.Entry
	for _, id := range ids {
		es = append(es, auditlog.Entry{ID: id, Timestamp: time.Unix(1_700_000_000, 0), Action: auditlog.ActionCreate, Model: "books", ObjectPK: "1", ObjectRepr: "a book"})
	}
	return es
}

// recordIDs returns the ids of the lines of b that are records, and the
// number of lines that are not.
func recordIDs(t *testing.T, b []byte) (ids []int64, bad int) {
	t.Helper()
	for _, l := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		if l == "" {
			continue // no entry, and no reader's trouble
		}
		got := lines(t, nil)
		if strings.HasPrefix(l, `{"id":`) && strings.HasSuffix(l, "}") {
			got = lines(t, []byte(l+"\n"))
		}
		if len(got) == 0 {
			bad++
		}
		ids = append(ids, got...)
	}
	return ids, bad
}

// TestJSONLAfterATornLine: a write cut short (a full disk, a crash) left
// half a line in the file; the next round appended to it, so its first
// line was glued to the fragment and no reader found that entry. The
// fragment is ended as a line of its own.
func TestJSONLAfterATornLine(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "out.jsonl")
	if err := os.WriteFile(path, []byte(`{"id":1,"timestamp":"2023-11-14T22:13:20Z"}`+"\n"+`{"id":2,"times`), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	j := auditrelay.NewJSONL(f, "jsonl:test")
	if err := j.Publish(context.Background(), tornEntries(2, 3)); err != nil {
		t.Fatal(err)
	}
	if err := j.Publish(context.Background(), tornEntries(4)); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	ids, bad := recordIDs(t, b)
	if !slices.Equal(ids, []int64{1, 2, 3, 4}) || bad != 1 {
		t.Errorf("records %v, %d lines no record:\n%s", ids, bad, b)
	}
}

// halfWriter takes part of its first write, to the middle of a line, and
// fails.
type halfWriter struct {
	bytes.Buffer
	failed bool
}

func (w *halfWriter) Write(p []byte) (int, error) {
	if !w.failed {
		w.failed = true
		n := len(p)/2 + 7
		w.Buffer.Write(p[:n])
		return n, errors.New("no space left on device")
	}
	return w.Buffer.Write(p)
}

// TestJSONLAfterAFailedWrite: the same, where the sink cannot look at what
// it writes to (a pipe): its own failed write tells.
func TestJSONLAfterAFailedWrite(t *testing.T) {
	t.Parallel()
	var w halfWriter
	j := auditrelay.NewJSONL(&w, "jsonl:test")
	if err := j.Publish(context.Background(), tornEntries(1, 2)); err == nil {
		t.Fatal("the write did not fail")
	}
	if err := j.Publish(context.Background(), tornEntries(1, 2)); err != nil {
		t.Fatal(err)
	}
	ids, bad := recordIDs(t, w.Bytes())
	if !slices.Equal(ids, []int64{1, 1, 2}) || bad != 1 { // 1 whole before the failure: at least once
		t.Errorf("records %v, %d lines no record:\n%s", ids, bad, w.Bytes())
	}
}
