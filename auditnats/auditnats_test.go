package auditnats_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"fmt"
	"math/big"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/mod/sumdb/note"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/auditnats"
	"github.com/go-auditlog/auditlog/auditseal"
	"github.com/go-auditlog/auditlog/auditstore"
	"github.com/go-auditlog/auditlog/internal/testdb"
)

// NATSEnv names the NATS server tests publish to (.ci/run sets it); a test
// that needs it fails when it is set and the server is unreachable.
const NATSEnv = "AUDITLOG_TEST_NATS_URL"

// target returns a stream and subject of the test's own on the test
// server, deleted when the test ends.
func target(t *testing.T) auditnats.Target {
	t.Helper()
	u := os.Getenv(NATSEnv)
	if u == "" {
		t.Skip(NATSEnv + " is not set")
	}
	n, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tg, err := auditnats.Parse(fmt.Sprintf("%s/auditlog.test.%d?stream=AUDITLOG_TEST_%d", u, n, n))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		nc, err := nats.Connect(tg.URL)
		if err != nil {
			return
		}
		defer nc.Close()
		if js, err := jetstream.New(nc); err == nil {
			_ = js.DeleteStream(context.Background(), tg.Stream)
		}
	})
	return tg
}

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		in, url, stream, subject string
	}{
		{"nats://127.0.0.1:4222", "nats://127.0.0.1:4222", auditnats.DefaultStream, auditnats.DefaultSubject},
		{"nats://h:1/app.cp?stream=APP", "nats://h:1", "APP", "app.cp"},
	} {
		got, err := auditnats.Parse(tc.in)
		if err != nil || got.URL != tc.url || got.Stream != tc.stream || got.Subject != tc.subject {
			t.Errorf("Parse(%q) = %+v, %v", tc.in, got, err)
		}
	}
	for _, bad := range []string{"", "http://h:1", "nats://", "nats://h:1/a.*", "nats://h:1/a..b", "nats://h:1/x?stream=a.b",
		// A list of servers: the second one, its password too, was the subject.
		"nats://user:secretpw@127.0.0.1:4222,nats://u2:otherpw12@127.0.0.1:4298", "nats://a:1,b:2", "nats://a:1,tls://b:2/x"} {
		if _, err := auditnats.Parse(bad); err == nil {
			t.Errorf("Parse(%q): no error", bad)
		}
	}
}

// A list of servers given for the entries' sink is refused as for a
// witness (it was refused as a URL with a subject, which it is not).
func TestConnectSinkRefusesAListOfServers(t *testing.T) {
	_, err := auditnats.ConnectSink(context.Background(), "nats://a:4222,nats://u:pw@b:4222", auditnats.SinkOptions{})
	if err == nil || !strings.Contains(err.Error(), "a list of servers") || strings.Contains(err.Error(), "pw") {
		t.Errorf("ConnectSink of a list of servers: %v", err)
	}
}

// TestWitnessKeepsTheLatestCheckpoint seals a log with a NATS witness,
// reads the latest checkpoint back from NATS, and catches with it a log cut
// back together with its checkpoints table.
func TestWitnessKeepsTheLatestCheckpoint(t *testing.T) {
	tg := target(t)
	ctx := context.Background()
	w, err := auditnats.Connect(ctx, tg)
	if err != nil {
		t.Fatal(err) // the variable is set: the server must answer
	}
	defer w.Close()
	gdb := testdb.Open(t, "sqlite")
	db, _ := gdb.DB()
	s, _ := auditstore.New(db, auditstore.SQLite)
	skey, vkey, _ := note.GenerateKey(rand.Reader, "example.com/audit")
	signer, _ := note.NewSigner(skey)
	verifier, _ := note.NewVerifier(vkey)
	sealer, _ := auditseal.New(db, auditstore.SQLite, signer, "example.com/audit")
	sealer.Witnesses = []auditseal.Witness{w}
	for round := 1; round <= 3; round++ {
		var es []auditlog.Entry
		for i := range 4 {
			es = append(es, auditlog.Entry{Action: auditlog.ActionCreate, Model: "m", ObjectPK: fmt.Sprint(round, i), ObjectRepr: "x"})
		}
		if err := s.Insert(ctx, es); err != nil {
			t.Fatal(err)
		}
		if _, err := sealer.Round(ctx); err != nil {
			t.Fatal(err)
		}
	}
	all, err := auditnats.Checkpoints(ctx, tg)
	if err != nil || len(all) != 3 {
		t.Fatalf("every checkpoint: %d, %v", len(all), err)
	}
	latest := all[2]
	var inDB string
	if err := db.QueryRow("SELECT note FROM auditlog_seal_checkpoints ORDER BY size DESC LIMIT 1").Scan(&inDB); err != nil {
		t.Fatal(err)
	}
	if string(latest) != inDB || !strings.Contains(inDB, "\n12\n") {
		t.Fatalf("NATS holds %q, the database %q", latest, inDB)
	}
	cut(t, db)
	rep, err := auditseal.Verify(ctx, db, auditstore.SQLite, auditseal.VerifyOptions{Origin: "example.com/audit", Verifier: verifier, Trusted: [][]byte{latest}})
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK() || rep.Problems[0].Kind != auditseal.CheckpointMissing || rep.Problems[0].Checkpoint != 12 {
		t.Fatalf("a log cut back: %+v", rep)
	}
}

// cut deletes the newest entries with their leaves and checkpoints.
func cut(t *testing.T, db *sql.DB) {
	t.Helper()
	for _, q := range []string{"DELETE FROM auditlog_seal_checkpoints WHERE size > 4", "DELETE FROM auditlog_seal_leaves WHERE leaf_index >= 4",
		"DELETE FROM auditlog_entries WHERE id > 4"} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
}

// A tree signed again at the same size with a new position is a new
// checkpoint and is stored; the same checkpoint sent twice is stored once.
func TestWitnessKeepsResignedCheckpoint(t *testing.T) {
	tg := target(t)
	ctx := context.Background()
	w, err := auditnats.Connect(ctx, tg)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	first, again := []byte("origin\n12\nroot\n\nsig1\n"), []byte("origin\n12\nroot\nauditlog-next 20\n\nsig2\n")
	for _, cp := range [][]byte{first, first, again} {
		if err := w.Witness(ctx, 12, cp); err != nil {
			t.Fatal(err)
		}
	}
	all, err := auditnats.Checkpoints(ctx, tg)
	if err != nil || len(all) != 2 || string(all[1]) != string(again) {
		t.Fatalf("stored %q, %v; want the checkpoint and its re-signed one, once each", all, err)
	}
}

// A sealer's first round sends the latest checkpoint again (one a witness
// missed before it started): quiet runs of seal --once, further apart than
// the stream's duplicate window, stored a copy each. The witness tells
// that its subject's latest message is that checkpoint, and gets none.
func TestWitnessHoldingTheLatestCheckpointGetsNoCopy(t *testing.T) {
	tg := target(t)
	ctx := context.Background()
	nc, err := nats.Connect(tg.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	// A duplicate window shorter than the runs are apart.
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: tg.Stream, Subjects: []string{tg.Subject}, Duplicates: 100 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	gdb := testdb.Open(t, "sqlite")
	db, _ := gdb.DB()
	s, _ := auditstore.New(db, auditstore.SQLite)
	if err := s.Insert(ctx, []auditlog.Entry{{Action: auditlog.ActionCreate, Model: "m", ObjectPK: "1", ObjectRepr: "x"}}); err != nil {
		t.Fatal(err)
	}
	skey, _, _ := note.GenerateKey(rand.Reader, "example.com/audit")
	signer, _ := note.NewSigner(skey)
	for range 3 { // three runs of seal --once
		w, err := auditnats.Connect(ctx, tg)
		if err != nil {
			t.Fatal(err)
		}
		sealer, _ := auditseal.New(db, auditstore.SQLite, signer, "example.com/audit")
		sealer.Witnesses = []auditseal.Witness{w}
		if _, err := sealer.Round(ctx); err != nil {
			t.Fatal(err)
		}
		w.Close()
		time.Sleep(200 * time.Millisecond)
	}
	st, err := js.Stream(ctx, tg.Stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 1 {
		t.Errorf("the witness's stream holds %d messages after three runs, want the one checkpoint", info.State.Msgs)
	}
}
