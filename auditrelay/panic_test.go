package auditrelay_test

import (
	"context"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/auditrelay"
	"github.com/go-auditlog/auditlog/internal/testdb"
)

// fuseSink panics in Publish while boom is set, as a sink with a bug does.
type fuseSink struct {
	boom bool
	got  int
}

func (s *fuseSink) Name() string { return "fuse" }
func (s *fuseSink) Publish(_ context.Context, es []auditlog.Entry) error {
	if s.boom {
		panic("sink down")
	}
	s.got += len(es)
	return nil
}

// A sink that panics (the application's code) leaves no transaction open:
// the round's transaction held the relay's row lock and a connection, and
// the next round waited on the lock for ever.
func TestSinkPanicLeavesNoTransaction(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, gdb *gorm.DB) {
		db, d := sqlOf(t, gdb)
		insert(t, db, nil, d, "m", 3)
		sink := &fuseSink{boom: true}
		r, err := auditrelay.New(db, d, sink)
		if err != nil {
			t.Fatal(err)
		}
		func() {
			defer func() {
				if recover() == nil {
					t.Error("the sink's panic did not reach the caller")
				}
			}()
			_, _ = r.Round(context.Background())
		}()
		if n := db.Stats().InUse; n != 0 {
			t.Errorf("%d connections in use after the sink's panic", n)
		}
		sink.boom = false
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, err := r.Round(ctx); err != nil {
			t.Fatalf("the next round: %v", err)
		}
		if sink.got != 3 {
			t.Fatalf("published %d entries, want 3", sink.got)
		}
	})
}
