package auditgorm_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/auditgorm"
	"github.com/go-auditlog/auditlog/auditrelay"
	"github.com/go-auditlog/auditlog/auditstore"
	"github.com/go-auditlog/auditlog/internal/testdb"
)

// lockedBuffer is a bytes.Buffer the relay's goroutine writes and the test
// reads.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) Bytes() []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.b.Bytes())
}

// TestConfigRelay runs the relay in the application: the entries of
// audited writes are published within a few rounds, each once, and the
// plugin reports the relay's lag.
func TestConfigRelay(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var out, logs lockedBuffer
		reg := auditlog.NewRegistry()
		p := auditgorm.New(auditgorm.Config{Registry: reg, Relay: &auditgorm.Relay{Sink: auditrelay.NewJSONL(&out, "jsonl:test"),
			Interval: 10 * time.Millisecond, Context: ctx, Logger: slog.New(slog.NewTextHandler(&logs, nil))}})
		must(t, db.Use(p))
		must(t, db.AutoMigrate(&Counter{}))
		must(t, reg.Register(&Counter{}))
		for i := range 5 {
			must(t, db.Create(&Counter{N: i}).Error)
		}
		must(t, db.Model(&Counter{}).Where("n < ?", 3).Update("n", 9).Error)
		must(t, db.Where("n = ?", 4).Delete(&Counter{}).Error)
		deadline := time.Now().Add(10 * time.Second)
		for {
			lag, err := p.Relay().Lag(ctx)
			must(t, err)
			if lag.Entries == 0 && lag.Published == 9 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("not published after 10 s: %+v", lag)
			}
			time.Sleep(20 * time.Millisecond)
		}
		var got []string
		sc := bufio.NewScanner(bytes.NewReader(out.Bytes()))
		for sc.Scan() {
			var r auditstore.ExportRecord
			must(t, json.Unmarshal(sc.Bytes(), &r))
			got = append(got, r.Action+" "+r.ObjectPK)
		}
		want := []string{"create 1", "create 2", "create 3", "create 4", "create 5", "update 1", "update 2", "update 3", "delete 5"}
		if !slices.Equal(got, want) {
			t.Fatalf("published %v, want %v", got, want)
		}
		if strings.Contains(string(logs.Bytes()), "level=ERROR") {
			t.Fatalf("the relay logged errors: %s", logs.Bytes())
		}
	})
}

// TestConfigRelayRefusesBadSettings: a relay without a sink, or with a
// negative interval, stops db.Use with an error.
func TestConfigRelayRefusesBadSettings(t *testing.T) {
	for _, r := range []*auditgorm.Relay{
		{},
		{Sink: auditrelay.NewJSONL(&bytes.Buffer{}, "x"), Interval: -1},
		{Sink: auditrelay.NewJSONL(&bytes.Buffer{}, "x"), GapWait: -time.Second},
	} {
		db := testdb.Open(t, "sqlite")
		if err := db.Use(auditgorm.New(auditgorm.Config{Relay: r})); err == nil || !strings.Contains(err.Error(), "Config.Relay") {
			t.Errorf("%+v: %v", r, err)
		}
	}
	if p := auditgorm.New(auditgorm.Config{}); p.Relay() != nil {
		t.Error("a relay without Config.Relay")
	}
}

// A db.Use refused for a setting checked after the relay's (a Seal
// without a Signer) left the relay running: it published the log for a
// plugin that was never installed, another one on each retry. Nothing
// starts unless everything is set up.
func TestRefusedPluginStartsNoRelay(t *testing.T) {
	db := testdb.Open(t, "sqlite")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	must(t, auditgorm.Migrate(ctx, db))
	s, err := auditgorm.NewStore(db)
	must(t, err)
	must(t, s.Insert(ctx, []auditlog.Entry{{Action: auditlog.ActionCreate, Model: "books", ObjectPK: "1", ObjectRepr: "Dune"}}))
	var out lockedBuffer
	p := auditgorm.New(auditgorm.Config{Relay: &auditgorm.Relay{Sink: auditrelay.NewJSONL(&out, "jsonl:refused"), Interval: 5 * time.Millisecond, Context: ctx},
		Seal: &auditgorm.Seal{}})
	if err := db.Use(p); err == nil || !strings.Contains(err.Error(), "Signer") {
		t.Fatalf("db.Use with a Seal without a Signer: %v", err)
	}
	time.Sleep(100 * time.Millisecond) // twenty of the relay's rounds
	if b := out.Bytes(); len(b) != 0 || p.Relay() != nil {
		t.Errorf("a refused plugin's relay published: %s", b)
	}
}
