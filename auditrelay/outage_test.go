package auditrelay_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/auditnats"
	"github.com/go-auditlog/auditlog/auditrelay"
	"github.com/go-auditlog/auditlog/auditstore"
	"github.com/go-auditlog/auditlog/internal/testdb"
)

// cutProxy forwards TCP connections to a server, counting what clients
// send, until cut: every connection closed (what was in flight is lost)
// and new ones refused while down.
type cutProxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	conns  []net.Conn
	down   atomic.Bool
	sent   atomic.Int64
}

func newCutProxy(t *testing.T, target string) *cutProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{ln: ln, target: target}
	t.Cleanup(func() { ln.Close(); p.cut() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if p.down.Load() {
				c.Close()
				continue
			}
			u, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, u)
			p.mu.Unlock()
			go func() {
				buf := make([]byte, 32<<10)
				for {
					n, err := c.Read(buf)
					if n > 0 {
						if _, werr := u.Write(buf[:n]); werr != nil {
							break
						}
						p.sent.Add(int64(n))
					}
					if err != nil {
						break
					}
				}
				u.Close()
			}()
			go func() { _, _ = io.Copy(c, u); c.Close() }()
		}
	}()
	return p
}

func (p *cutProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// A broker connection lost in the middle of a round: the messages the
// client had not sent yet went out after it reconnected (nats.go's
// reconnect buffer), behind those lost with the connection, which the
// next round published again after them: one object's entries stood out
// of order in the stream. The sink's connection keeps no reconnect buffer,
// and every object's entries are stored in order, each once.
func TestRelayAcrossABrokenConnection(t *testing.T) {
	url, name, prefix := stream(t)
	db, d := sqlOf(t, testdb.Open(t, "sqlite"))
	ctx := context.Background()
	s, err := auditstore.New(db, d)
	if err != nil {
		t.Fatal(err)
	}
	es := make([]auditlog.Entry, 20_000)
	for i := range es {
		ch, _ := auditlog.NewChange(i, i+1)
		es[i] = auditlog.Entry{Timestamp: time.Now(), Action: auditlog.ActionUpdate, Model: "acct", ObjectPK: fmt.Sprint(i % 3), Changes: auditlog.Changes{"balance": ch}}
	}
	if err := s.Insert(ctx, es); err != nil {
		t.Fatal(err)
	}
	p := newCutProxy(t, strings.TrimPrefix(url, "nats://"))
	sink, err := auditnats.ConnectSink(ctx, "nats://"+p.ln.Addr().String(), auditnats.SinkOptions{Stream: name, Prefix: prefix},
		nats.ReconnectWait(100*time.Millisecond), nats.MaxReconnects(-1))
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	r, err := auditrelay.New(db, d, sink)
	if err != nil {
		t.Fatal(err)
	}
	r.Batch = len(es)
	go func() {
		for p.sent.Load() < 2<<20 {
			time.Sleep(time.Millisecond)
		}
		p.down.Store(true)
		p.cut()
		time.Sleep(time.Second)
		p.down.Store(false)
	}()
	if _, err := r.Round(ctx); err == nil {
		t.Log("the round across the outage succeeded")
	}
	for i := 0; ; i++ {
		res, err := r.Round(ctx)
		if err == nil && res.Published == 0 {
			break
		}
		if i == 100 {
			t.Fatalf("no round succeeded after the outage: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	got := readStream(t, url, name)
	last := map[string]int64{}
	var ids []int64
	inversions := 0
	for _, m := range got {
		k := m.rec.Model + "/" + m.rec.ObjectPK
		if m.rec.ID < last[k] {
			if inversions++; inversions <= 3 {
				t.Errorf("object %s: entry %d after its entry %d in the stream", k, m.rec.ID, last[k])
			}
		}
		last[k] = max(last[k], m.rec.ID)
		ids = append(ids, m.rec.ID)
	}
	slices.Sort(ids)
	if len(ids) != len(es) || len(slices.Compact(ids)) != len(es) || ids[0] != 1 || ids[len(ids)-1] != int64(len(es)) {
		t.Errorf("the stream holds %d messages, %d entries, of %d", len(got), len(slices.Compact(ids)), len(es))
	}
	if inversions > 0 {
		t.Errorf("%d entries stored after a later entry of their object", inversions)
	}
}
