package auditseal_test

import (
	"context"
	"flag"
	"fmt"
	"testing"
	"time"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/auditseal"
	"github.com/go-auditlog/auditlog/auditstore"
	"github.com/go-auditlog/auditlog/internal/testdb"
)

var sealEntries = flag.Int("seal-entries", 100_000, "entries BenchmarkSeal seals and verifies")

// BenchmarkSeal seals -seal-entries entries in rounds of the default batch
// and verifies them, on each configured database, and reports entries per
// second for each.
//
//	go test ./auditseal -run XXX -bench Seal -benchtime 1x -seal-entries 1000000
func BenchmarkSeal(b *testing.B) {
	for _, name := range testdb.Names() {
		b.Run(name, func(b *testing.B) {
			gdb := testdb.Open(b, name)
			db, _ := gdb.DB()
			d, _ := auditstore.ParseDialect(gdb.Dialector.Name())
			s, _ := auditstore.New(db, d)
			ctx := context.Background()
			n := *sealEntries
			ch, _ := auditlog.NewChange(1, 2)
			for start := 0; start < n; start += 5000 {
				es := make([]auditlog.Entry, min(5000, n-start))
				for i := range es {
					es[i] = auditlog.Entry{Timestamp: time.Now(), Action: auditlog.ActionUpdate, Model: "books", ObjectPK: fmt.Sprint(start + i),
						ObjectRepr: "a book", Changes: auditlog.Changes{"price": ch}, ActorName: "alice", CorrelationID: "req-1"}
				}
				if err := s.Insert(ctx, es); err != nil {
					b.Fatal(err)
				}
			}
			signer, v := keys(b, "auditlog-bench")
			for b.Loop() {
				sealer, _ := auditseal.New(db, d, signer, origin)
				start := time.Now()
				for sealed := 0; sealed < n; {
					r, err := sealer.Round(ctx)
					if err != nil {
						b.Fatal(err)
					}
					if r.Sealed == 0 {
						break
					}
					sealed += r.Sealed
				}
				sealTime := time.Since(start)
				start = time.Now()
				rep, err := auditseal.Verify(ctx, db, d, auditseal.VerifyOptions{Origin: origin, Verifier: v})
				if err != nil || !rep.OK() || rep.Leaves != int64(n) {
					b.Fatalf("verify: %+v %v", rep, err)
				}
				verifyTime := time.Since(start)
				b.ReportMetric(float64(n)/sealTime.Seconds(), "sealed/s")
				b.ReportMetric(float64(n)/verifyTime.Seconds(), "verified/s")
				b.StopTimer()
				for _, q := range []string{"DELETE FROM auditlog_seal_leaves", "DELETE FROM auditlog_seal_hashes", "DELETE FROM auditlog_seal_checkpoints", "DELETE FROM auditlog_seal_state"} {
					if _, err := db.Exec(q); err != nil {
						b.Fatal(err)
					}
				}
				b.StartTimer()
			}
		})
	}
}
