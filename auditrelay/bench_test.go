package auditrelay_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/auditnats"
	"github.com/go-auditlog/auditlog/auditrelay"
	"github.com/go-auditlog/auditlog/auditstore"
	"github.com/go-auditlog/auditlog/internal/testdb"
)

// BenchmarkRelay measures how fast a relay publishes entries that are
// waiting: 20,000 entries (of 200 objects, a change each) written
// beforehand, then published in rounds of 1,000 to a JSON Lines file and,
// with AUDITLOG_TEST_NATS_URL set, to JetStream; entries/s is reported.
//
//	go test ./auditrelay -run XXX -bench Relay -benchtime 3x
func BenchmarkRelay(b *testing.B) {
	const n = 20_000
	for _, kind := range testdb.Names() {
		for _, dest := range []string{"jsonl", "nats"} {
			b.Run(kind+"/"+dest, func(b *testing.B) {
				url := os.Getenv(natsEnv)
				if dest == "nats" && url == "" {
					b.Skip(natsEnv + " is not set")
				}
				gdb := testdb.Open(b, kind)
				db, err := gdb.DB()
				if err != nil {
					b.Fatal(err)
				}
				d, _ := auditstore.ParseDialect(gdb.Dialector.Name())
				s, err := auditstore.New(db, d)
				if err != nil {
					b.Fatal(err)
				}
				es := make([]auditlog.Entry, 1000)
				for start := 0; start < n; start += len(es) {
					for i := range es {
						ch, _ := auditlog.NewChange(start+i, start+i+1)
						id := int64(i % 200)
						es[i] = auditlog.Entry{Timestamp: time.Now(), Action: auditlog.ActionUpdate, Model: "books", ObjectPK: fmt.Sprint(id), ObjectID: &id,
							ObjectRepr: "Dune", Changes: auditlog.Changes{"price": ch}, ActorID: "7", ActorName: "alice", CorrelationID: "req-1"}
					}
					if err := s.Insert(context.Background(), es); err != nil {
						b.Fatal(err)
					}
				}
				ctx := context.Background()
				var total time.Duration
				for i := 0; i < b.N; i++ {
					var sink auditrelay.Sink
					name := fmt.Sprintf("bench-%d", i)
					switch dest {
					case "nats":
						stream := fmt.Sprintf("AUDITLOG_RELAY_BENCH_%d_%d", time.Now().UnixNano(), i)
						ns, err := auditnats.ConnectSink(ctx, url, auditnats.SinkOptions{Stream: stream, Prefix: "auditlog.bench." + stream})
						if err != nil {
							b.Fatal(err)
						}
						b.Cleanup(func() { ns.Close(); deleteStream(url, stream) })
						sink = ns
					default:
						f, err := os.Create(filepath.Join(b.TempDir(), "audit.jsonl"))
						if err != nil {
							b.Fatal(err)
						}
						b.Cleanup(func() { f.Close() })
						sink = auditrelay.NewJSONL(f, name)
					}
					r, err := auditrelay.New(db, d, sink)
					if err != nil {
						b.Fatal(err)
					}
					r.Name = name
					start := time.Now()
					got, err := r.CatchUp(ctx)
					total += time.Since(start)
					if err != nil || got != n {
						b.Fatalf("published %d, %v", got, err)
					}
				}
				b.ReportMetric(float64(n*b.N)/total.Seconds(), "entries/s")
			})
		}
	}
}
