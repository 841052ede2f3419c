package auditrelay_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/auditrelay"
	"github.com/go-auditlog/auditlog/auditstore"
	"github.com/go-auditlog/auditlog/internal/testdb"
)

// countdown is a context that ends after n calls of Err, so that a
// publish is stopped in the middle of a batch.
type countdown struct {
	context.Context
	mu sync.Mutex
	n  int
}

func (c *countdown) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n <= 0 {
		return context.Canceled
	}
	c.n--
	return nil
}

// TestJSONLStoppedMidBatchWritesWholeLines: a round stopped in the middle
// of a batch larger than the sink's buffer leaves only whole lines in the
// file, so that the next round's lines are readable after them.
func TestJSONLStoppedMidBatchWritesWholeLines(t *testing.T) {
	gdb := testdb.Open(t, "sqlite")
	db, d := sqlOf(t, gdb)
	s, err := auditstore.New(db, d)
	if err != nil {
		t.Fatal(err)
	}
	es := make([]auditlog.Entry, 800)
	for i := range es {
		ch, _ := auditlog.NewChange(strings.Repeat("x", 150), i)
		es[i] = auditlog.Entry{Timestamp: time.Now(), Action: auditlog.ActionUpdate, Model: "m", ObjectPK: fmt.Sprint(i), ObjectRepr: "m", Changes: auditlog.Changes{"n": ch}}
	}
	if err := s.Insert(context.Background(), es); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	r, err := auditrelay.New(db, d, auditrelay.NewJSONL(&out, "jsonl:test"))
	if err != nil {
		t.Fatal(err)
	}
	// Contexts that end after more and more checks, until one lets the
	// round through: each stopped round must leave whole lines only.
	stopped, before := 0, 0
	for n := 10; ; n += 37 {
		before = out.Len()
		_, err := r.Round(&countdown{Context: context.Background(), n: n})
		if err == nil {
			break
		}
		stopped++
		if out.Len() > 0 && !bytes.HasSuffix(out.Bytes(), []byte("\n")) {
			t.Fatalf("a round stopped after %d checks left a partial line: …%q", n, out.Bytes()[max(0, out.Len()-40):])
		}
	}
	if stopped == 0 || out.Len() == 0 {
		t.Fatalf("no round stopped with lines written (%d stopped)", stopped)
	}
	lines(t, out.Bytes()) // every line is JSON
	if got := lines(t, out.Bytes()[before:]); len(got) != 800 {
		t.Fatalf("%d entries written, want 800", len(got))
	}
}
