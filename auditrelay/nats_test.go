package auditrelay_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/auditgorm"
	"github.com/go-auditlog/auditlog/auditnats"
	"github.com/go-auditlog/auditlog/auditrelay"
	"github.com/go-auditlog/auditlog/auditstore"
	"github.com/go-auditlog/auditlog/internal/testdb"
)

// natsEnv names the NATS server of the tests (.ci/run sets it); a test that
// needs it fails when it is set and the server is unreachable.
const natsEnv = "AUDITLOG_TEST_NATS_URL"

// stream returns a stream name and a subject prefix of the test's own on
// the test server (the stream deleted when the test ends), and the
// server's URL.
func stream(t *testing.T) (url, name, prefix string) {
	t.Helper()
	url = os.Getenv(natsEnv)
	if url == "" {
		t.Skip(natsEnv + " is not set")
	}
	n, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	name, prefix = fmt.Sprintf("AUDITLOG_RELAY_TEST_%d", n), fmt.Sprintf("auditlog.test.%d", n)
	t.Cleanup(func() { deleteStream(url, name) })
	return url, name, prefix
}

func deleteStream(url, name string) {
	nc, err := nats.Connect(url)
	if err != nil {
		return
	}
	defer nc.Close()
	if js, err := jetstream.New(nc); err == nil {
		_ = js.DeleteStream(context.Background(), name)
	}
}

// message is what the test reads of a published entry.
type message struct {
	subject string
	rec     auditstore.ExportRecord
}

// readStream returns every message of the stream, in stream order.
func readStream(t *testing.T, url, name string) []message {
	t.Helper()
	ctx := context.Background()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	s, err := js.Stream(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	c, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	info, err := c.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	pending := int(info.NumPending)
	var out []message
	for len(out) < pending {
		batch, err := c.Fetch(min(1000, pending-len(out)), jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		n := len(out)
		for m := range batch.Messages() {
			var r auditstore.ExportRecord
			if err := json.Unmarshal(m.Data(), &r); err != nil {
				t.Fatalf("message %q: %v", m.Data(), err)
			}
			// The message id is the subject's prefix (before the model and
			// action tokens) and the entry's id.
			tokens := strings.Split(m.Subject(), ".")
			want := strings.Join(tokens[:len(tokens)-2], ".") + ":" + strconv.FormatInt(r.ID, 10)
			if got := m.Headers().Get(jetstream.MsgIDHeader); got != want {
				t.Fatalf("entry %d has the message id %q, want %q", r.ID, got, want)
			}
			out = append(out, message{m.Subject(), r})
		}
		if err := batch.Error(); err != nil {
			t.Fatal(err)
		}
		if len(out) == n {
			t.Fatalf("%d of %d messages arrived", n, pending)
		}
	}
	return out
}

// TestNATSSink publishes through a relay to JetStream: one message per
// entry on PREFIX.<model>.<action>, the export record as its body, the
// entry id as its message id, and an entry published twice stored once.
func TestNATSSink(t *testing.T) {
	url, name, prefix := stream(t)
	gdb := testdb.Open(t, "sqlite")
	db, d := sqlOf(t, gdb)
	ctx := context.Background()
	sink, err := auditnats.ConnectSink(ctx, url, auditnats.SinkOptions{Stream: name, Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	if sink.Name() != "nats:"+name {
		t.Fatalf("name %q", sink.Name())
	}
	insert(t, db, nil, d, "shop.Order *>", 2)
	r, err := auditrelay.New(db, d, sink)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := r.CatchUp(ctx); err != nil || n != 2 {
		t.Fatalf("published %d, %v", n, err)
	}
	// The same entries again, as a relay that crashed before saving its
	// position publishes them: stored once.
	es, err := auditstore.EntriesIn(ctx, db, d, []auditstore.IDRange{{From: 1, To: 2}}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := sink.Publish(ctx, es); err != nil {
		t.Fatal(err)
	}
	if sink.Duplicates() != 2 {
		t.Fatalf("%d duplicates reported, want 2", sink.Duplicates())
	}
	msgs := readStream(t, url, name)
	if len(msgs) != 2 {
		t.Fatalf("%d messages, want 2", len(msgs))
	}
	for i, m := range msgs {
		if m.subject != prefix+".shop_Order___.update" || m.rec.ID != int64(i+1) || m.rec.Model != "shop.Order *>" || m.rec.Action != "update" || len(m.rec.Changes) != 1 {
			t.Errorf("message %d: %+v", i, m)
		}
	}
	for _, bad := range []struct {
		url string
		o   auditnats.SinkOptions
	}{
		{"http://127.0.0.1:4222", auditnats.SinkOptions{}},
		{url + "/subject", auditnats.SinkOptions{}},
		{url, auditnats.SinkOptions{Stream: "a.b"}},
		{url, auditnats.SinkOptions{Prefix: "a.*"}},
		{url, auditnats.SinkOptions{Prefix: "a..b"}},
		{url, auditnats.SinkOptions{Duplicates: -1}},
	} {
		if s, err := auditnats.ConnectSink(ctx, bad.url, bad.o); err == nil {
			s.Close()
			t.Errorf("ConnectSink(%q, %+v): no error", bad.url, bad.o)
		}
	}
}

// Account is the audited model of TestRelayCrash.
type Account struct {
	ID      uint
	Owner   string `gorm:"size:40"`
	Balance int
}

const (
	relayDSNEnv    = "AUDITLOG_RELAY_DSN"
	relayKindEnv   = "AUDITLOG_RELAY_KIND"
	relayStreamEnv = "AUDITLOG_RELAY_STREAM"
	relayPrefixEnv = "AUDITLOG_RELAY_PREFIX"
)

// TestRelayChild is the relay process of TestRelayCrash: it relays until
// it is killed.
func TestRelayChild(t *testing.T) {
	dsn := os.Getenv(relayDSNEnv)
	if dsn == "" {
		t.Skip("the child process of TestRelayCrash")
	}
	gdb, err := gorm.Open(testdb.Dialector(t, os.Getenv(relayKindEnv), nil, dsn), &gorm.Config{Logger: logger.Discard})
	if err != nil {
		t.Fatal(err)
	}
	db, d := sqlOf(t, gdb)
	ctx := context.Background()
	sink, err := auditnats.ConnectSink(ctx, os.Getenv(natsEnv), auditnats.SinkOptions{Stream: os.Getenv(relayStreamEnv), Prefix: os.Getenv(relayPrefixEnv)})
	if err != nil {
		fmt.Println("error:", err)
		return
	}
	r, err := auditrelay.New(db, d, sink)
	if err != nil {
		fmt.Println("error:", err)
		return
	}
	r.Batch = 200 // many rounds, so that kills land between and inside them
	fmt.Println("ready")
	for {
		if _, err := r.Round(ctx); err != nil {
			fmt.Println("error:", err)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// TestRelayCrash writes 10,000 entries with 4 concurrent writers (audited
// GORM updates and creates, some rolled back), with a transaction held open
// across the run, while a relay process publishes them to JetStream and is
// killed with SIGKILL three times and restarted. The stream then holds
// every committed entry exactly once, none of a rolled-back transaction,
// and each object's entries in their order.
func TestRelayCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	if os.Getenv(relayDSNEnv) != "" {
		t.Skip("in the child")
	}
	url := os.Getenv(natsEnv)
	if url == "" {
		t.Skip(natsEnv + " is not set")
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	for _, kind := range testdb.Names() {
		t.Run(kind, func(t *testing.T) {
			_, name, prefix := stream(t)
			gdb, dsn := testdb.OpenWithDSN(t, kind)
			db, d := sqlOf(t, gdb)
			reg := auditlog.NewRegistry()
			must(t, gdb.Use(auditgorm.New(auditgorm.Config{Registry: reg})))
			must(t, gdb.AutoMigrate(&Account{}))
			must(t, reg.Register(&Account{}))
			const objects = 40
			for i := range objects {
				must(t, gdb.Create(&Account{Owner: fmt.Sprint("owner", i)}).Error)
			}
			rng := mrand.New(mrand.NewPCG(seed, 7))

			var mu sync.Mutex
			var child *exec.Cmd
			var drained chan struct{}
			start := func() {
				cmd := exec.Command(os.Args[0], "-test.run=^TestRelayChild$", "-test.count=1")
				cmd.Env = append(os.Environ(), relayDSNEnv+"="+dsn, relayKindEnv+"="+kind, relayStreamEnv+"="+name, relayPrefixEnv+"="+prefix)
				out, err := cmd.StdoutPipe()
				must(t, err)
				must(t, cmd.Start())
				ready, done := make(chan struct{}), make(chan struct{})
				go func() {
					defer close(done)
					sc := bufio.NewScanner(out)
					for sc.Scan() {
						if sc.Text() == "ready" {
							close(ready)
						} else if strings.HasPrefix(sc.Text(), "error:") && !strings.Contains(sc.Text(), "deadlock") {
							t.Errorf("relay: %s", sc.Text())
						}
					}
				}()
				select {
				case <-ready:
				case <-done:
					_ = cmd.Wait()
					t.Fatal("the relay stopped before it started")
				case <-time.After(30 * time.Second):
					_ = cmd.Process.Kill()
					<-done
					_ = cmd.Wait()
					t.Fatal("the relay did not start")
				}
				mu.Lock()
				child, drained = cmd, done
				mu.Unlock()
			}
			kill := func() {
				mu.Lock()
				cmd, done := child, drained
				child = nil
				mu.Unlock()
				if cmd == nil {
					return
				}
				must(t, cmd.Process.Signal(syscall.SIGKILL))
				<-done
				_ = cmd.Wait()
			}
			start()
			defer kill()

			// A transaction open across the whole run (and every relay
			// kill) on SQLite's one writer only at the end: it writes
			// there between the others.
			var held *gorm.DB
			if d != auditstore.SQLite {
				held = gdb.Begin()
				defer held.Rollback() // after a failure; a no-op after the commit
				acc := Account{Owner: "held"}
				must(t, held.Create(&acc).Error)
				must(t, held.Model(&acc).Update("balance", 1).Error)
			}
			const writers, perWriter = 4, 2500
			var wg sync.WaitGroup
			errs := make(chan error, writers)
			for w := range writers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					r := mrand.New(mrand.NewPCG(seed, uint64(w)))
					for written := 0; written < perWriter; {
						id := 1 + r.IntN(objects)
						err := gdb.Transaction(func(tx *gorm.DB) error {
							if err := tx.Model(&Account{ID: uint(id)}).Update("balance", gorm.Expr("balance + ?", 1+r.IntN(9))).Error; err != nil {
								return err
							}
							if r.IntN(10) == 0 {
								return errRollBack
							}
							return nil
						})
						switch {
						case err == nil:
							written++
						case errors.Is(err, errRollBack), testdb.Retryable(err), strings.Contains(err.Error(), "database is locked"):
						default:
							errs <- err
							return
						}
					}
				}()
			}
			// Three kills while the writers write, each relay restarted.
			for range 3 {
				time.Sleep(time.Duration(300+rng.IntN(700)) * time.Millisecond)
				kill()
				start()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			if held != nil {
				must(t, held.Commit().Error)
			} else {
				must(t, gdb.Create(&Account{Owner: "held"}).Error)
			}
			// The last relay catches up, the long transaction's entries too.
			deadline := time.Now().Add(2 * time.Minute)
			for {
				lag, err := auditrelay.ReadLag(context.Background(), db, d, "nats:"+name, time.Now())
				must(t, err)
				if lag.Entries == 0 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("the relay is still %d entries behind", lag.Entries)
				}
				time.Sleep(20 * time.Millisecond)
			}
			committed := ids(t, db, "SELECT id FROM auditlog_entries ORDER BY id")
			if len(committed) < writers*perWriter {
				t.Fatalf("%d entries committed, want at least %d", len(committed), writers*perWriter)
			}
			msgs := readStream(t, url, name)
			seen := map[int64]bool{}
			last := map[string]int64{}
			for _, m := range msgs {
				id := m.rec.ID
				if seen[id] {
					t.Fatalf("entry %d is in the stream twice", id)
				}
				seen[id] = true
				key := m.rec.Model + "/" + m.rec.ObjectPK
				if last[key] > id {
					t.Fatalf("entry %d of %s after entry %d", id, key, last[key])
				}
				last[key] = id
			}
			for _, id := range committed {
				if !seen[id] {
					t.Fatalf("committed entry %d is not in the stream", id)
				}
			}
			if len(msgs) != len(committed) {
				t.Fatalf("%d messages for %d committed entries: some of rolled-back transactions", len(msgs), len(committed))
			}
			t.Logf("%s: %d entries, each once in the stream", kind, len(msgs))
		})
	}
}

var errRollBack = errors.New("roll back")

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// natsRelay is a relay of db's entries to the stream on the server at url
// under the subject prefix, and its sink (closed when the test ends).
func natsRelay(t *testing.T, db *sql.DB, d auditstore.Dialect, url, stream, prefix string) (*auditrelay.Relay, *auditnats.Sink) {
	t.Helper()
	sink, err := auditnats.ConnectSink(context.Background(), url, auditnats.SinkOptions{Stream: stream, Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sink.Close() })
	r, err := auditrelay.New(db, d, sink)
	if err != nil {
		t.Fatal(err)
	}
	return r, sink
}

// Two applications relaying into one stream under their own prefixes (the
// sink adds the second prefix's subjects to the stream) keep all their
// entries: the message id names the prefix with the entry id, where the id
// alone made the stream drop the second application's entries 1 to 3 as
// duplicates of the first one's.
func TestSharedStreamKeepsEveryApplicationsEntries(t *testing.T) {
	url, name, prefix := stream(t)
	ctx := context.Background()
	for _, p := range []string{prefix + ".a", prefix + ".b"} {
		db, d := sqlOf(t, testdb.Open(t, "sqlite"))
		insert(t, db, nil, d, "books", 3)
		r, sink := natsRelay(t, db, d, url, name, p)
		if n, err := r.CatchUp(ctx); err != nil || n != 3 {
			t.Fatalf("%s: published %d, %v", p, n, err)
		}
		if sink.Duplicates() != 0 {
			t.Fatalf("%s: %d entries dropped as duplicates", p, sink.Duplicates())
		}
	}
	if msgs := readStream(t, url, name); len(msgs) != 6 {
		t.Fatalf("the stream holds %d entries, want 6", len(msgs))
	}
}

// TestRelayRefusesAnotherStreamUnderItsName: a relay's default name is
// the stream's alone, so a stream of that name on another server, or one
// deleted and made again, went on from the position saved for the first:
// the entries below it were never published to it, and the relay said
// nothing. It is now refused until given a name of its own, under which it
// publishes every entry.
func TestRelayRefusesAnotherStreamUnderItsName(t *testing.T) {
	url, name, prefix := stream(t)
	ctx := context.Background()
	db, d := sqlOf(t, testdb.Open(t, "sqlite"))
	insert(t, db, nil, d, "books", 3)
	relay := func(relayName string) (int, error) {
		t.Helper()
		r, _ := natsRelay(t, db, d, url, name, prefix)
		r.Name = relayName
		return r.CatchUp(ctx)
	}
	if n, err := relay(""); err != nil || n != 3 {
		t.Fatalf("first stream: published %d, %v", n, err)
	}
	insert(t, db, nil, d, "books", 1)
	if n, err := relay(""); err != nil || n != 1 {
		t.Fatalf("the same stream again: published %d, %v", n, err)
	}
	deleteStream(url, name)
	n, err := relay("")
	if !errors.Is(err, auditrelay.ErrOtherDestination) || n != 0 {
		t.Fatalf("a stream made again under the relay's name: published %d, %v", n, err)
	}
	if msgs := readStream(t, url, name); len(msgs) != 0 {
		t.Fatalf("the refused relay published %d entries", len(msgs))
	}
	if n, err := relay("nats:" + name + " again"); err != nil || n != 4 {
		t.Fatalf("under a name of its own: published %d, %v", n, err)
	}
}
