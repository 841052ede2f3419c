package auditnats_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/auditnats"
)

// limitedSink is a sink of a stream of the test's own whose messages may
// take maxMsg bytes.
func limitedSink(t *testing.T, maxMsg int32) (*auditnats.Sink, jetstream.JetStream, string) {
	t.Helper()
	tg := target(t)
	ctx := context.Background()
	nc, err := nats.Connect(tg.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	// Subjects of the test's own: the server outlives the run, and may
	// hold a stream of the default subjects (a relay run against it).
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: tg.Stream, Subjects: []string{tg.Subject + ".>"}, MaxMsgSize: maxMsg}); err != nil {
		t.Fatal(err)
	}
	sink, err := auditnats.NewSink(ctx, nc, auditnats.SinkOptions{Stream: tg.Stream, Prefix: tg.Subject})
	if err != nil {
		t.Fatal(err)
	}
	return sink, js, tg.Stream
}

// TestSinkShortensWhatDoesNotFit: an entry whose record is larger than a
// message may be (the server's max_payload, 1 MiB by default, or the
// stream's max_msg_size) failed its round, and every round after: the
// relay never went past it. Its largest values are published as their
// digests, and the record says which.
func TestSinkShortensWhatDoesNotFit(t *testing.T) {
	const maxMsg = 4096
	ctx := context.Background()
	sink, js, stream := limitedSink(t, maxMsg)
	big := json.RawMessage(`"` + strings.Repeat("x", 10_000) + `"`)
	small := json.RawMessage(`"short"`)
	objects := make([]string, 1000)
	for i := range objects {
		objects[i] = fmt.Sprintf("part number %d", i)
	}
	at := time.Now()
	entries := []auditlog.Entry{
		{ID: 1, Timestamp: at, Action: auditlog.ActionUpdate, Model: "books", ObjectPK: "1", ObjectRepr: "b",
			Changes: auditlog.Changes{"body": {Old: small, New: big}, "title": {Old: small, New: small}}},
		{ID: 2, Timestamp: at, Action: auditlog.ActionUpdate, Model: "books", ObjectPK: "2", ObjectRepr: "b",
			Changes: auditlog.Changes{"parts": {M2M: &auditlog.M2MChange{Operation: "add", Objects: objects}}}},
		{ID: 3, Timestamp: at, Action: auditlog.ActionCreate, Model: "books", ObjectPK: "3", ObjectRepr: "b",
			Changes: auditlog.Changes{"title": {Old: json.RawMessage("null"), New: small}}},
	}
	if err := sink.Publish(ctx, entries); err != nil {
		t.Fatalf("publish: %v", err)
	}
	cons, err := js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	type rec struct {
		ID        int64
		Changes   auditlog.Changes
		Shortened []string
	}
	var got []rec
	for range entries {
		m, err := cons.Next(jetstream.FetchMaxWait(5 * time.Second))
		if err != nil {
			t.Fatal(err)
		}
		if len(m.Data()) > maxMsg {
			t.Errorf("a message of %d bytes", len(m.Data()))
		}
		var r rec
		if err := json.Unmarshal(m.Data(), &r); err != nil {
			t.Fatal(err)
		}
		got = append(got, r)
	}
	sum := sha256.Sum256(big)
	wantDigest := fmt.Sprintf(`{"$digest":"sha256:%s","$bytes":%d}`, hex.EncodeToString(sum[:]), len(big))
	if r := got[0]; r.ID != 1 || !slices.Equal(r.Shortened, []string{"changes.body.new"}) || string(r.Changes["body"].New) != wantDigest ||
		string(r.Changes["body"].Old) != string(small) || string(r.Changes["title"].New) != string(small) {
		t.Errorf("the entry with a large value: %+v", r)
	}
	if r := got[1]; r.ID != 2 || !slices.Contains(r.Shortened, "changes") || r.Changes != nil {
		t.Errorf("the entry with a large many-to-many change: %+v", r)
	}
	if r := got[2]; r.ID != 3 || r.Shortened != nil || string(r.Changes["title"].New) != string(small) {
		t.Errorf("the entry after them: %+v", r)
	}
	// The entries given keep their values.
	if string(entries[0].Changes["body"].New) != string(big) {
		t.Error("the entry given was changed")
	}
}

// TestSinkShortensPastTheServersLimit: the same under the server's own
// payload limit, on a stream that sets none.
func TestSinkShortensPastTheServersLimit(t *testing.T) {
	tg := target(t)
	ctx := context.Background()
	sink, err := auditnats.ConnectSink(ctx, tg.URL, auditnats.SinkOptions{Stream: tg.Stream, Prefix: tg.Subject + ".big"})
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	huge := json.RawMessage(`"` + strings.Repeat("y", 1_500_000) + `"`)
	es := []auditlog.Entry{
		{ID: 1, Timestamp: time.Now(), Action: auditlog.ActionCreate, Model: "docs", ObjectPK: "1", ObjectRepr: "d",
			Changes: auditlog.Changes{"body": {Old: json.RawMessage("null"), New: huge}}},
		{ID: 2, Timestamp: time.Now(), Action: auditlog.ActionCreate, Model: "docs", ObjectPK: "2", ObjectRepr: "d"},
	}
	if err := sink.Publish(ctx, es); err != nil {
		t.Fatalf("publish: %v", err)
	}
}

// TestSinkFitsWhatFits: a record that fits a small stream limit with its
// headers is published whole: a reserve of 1 KiB for the headers once
// refused every record of a stream whose limit was 1,200 bytes.
func TestSinkFitsWhatFits(t *testing.T) {
	ctx := context.Background()
	sink, js, stream := limitedSink(t, 1200)
	e := auditlog.Entry{ID: 1, Timestamp: time.Now(), Action: auditlog.ActionCreate, Model: "books", ObjectPK: "1", ObjectRepr: "b",
		Changes: auditlog.Changes{"title": {Old: json.RawMessage("null"), New: json.RawMessage(`"` + strings.Repeat("t", 700) + `"`)}}}
	if err := sink.Publish(ctx, []auditlog.Entry{e}); err != nil {
		t.Fatal(err)
	}
	cons, err := js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	m, err := cons.Next(jetstream.FetchMaxWait(5 * time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(m.Data()), "shortened") || !strings.Contains(string(m.Data()), strings.Repeat("t", 700)) {
		t.Errorf("published %s", m.Data())
	}
}

// A record too long for the stream's messages even without its changes
// (a repr of 20,000 bytes, which an entry may hold up to 64 KiB) failed
// every round: the entries after it were never published. Its repr is cut
// to fit, and the record says so.
func TestSinkShortensALongRepr(t *testing.T) {
	ctx := context.Background()
	sink, js, stream := limitedSink(t, 16<<10)
	repr := strings.Repeat("é", 10_000) // 20,000 bytes
	es := []auditlog.Entry{
		{ID: 1, Timestamp: time.Now(), Action: auditlog.ActionCreate, Model: "docs", ObjectPK: "1", ObjectRepr: repr,
			Changes: auditlog.Changes{"title": {Old: json.RawMessage("null"), New: json.RawMessage(`"t"`)}}},
		{ID: 2, Timestamp: time.Now(), Action: auditlog.ActionCreate, Model: "docs", ObjectPK: "2", ObjectRepr: "d"},
	}
	if err := sink.Publish(ctx, es); err != nil {
		t.Fatalf("publish: %v", err)
	}
	cons, err := js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	var got []struct {
		ID         int64    `json:"id"`
		ObjectRepr string   `json:"object_repr"`
		Shortened  []string `json:"shortened"`
	}
	for range es {
		m, err := cons.Next(jetstream.FetchMaxWait(5 * time.Second))
		if err != nil {
			t.Fatal(err)
		}
		var r struct {
			ID         int64    `json:"id"`
			ObjectRepr string   `json:"object_repr"`
			Shortened  []string `json:"shortened"`
		}
		if err := json.Unmarshal(m.Data(), &r); err != nil {
			t.Fatal(err)
		}
		got = append(got, r)
	}
	if r := got[0]; r.ID != 1 || !slices.Contains(r.Shortened, "object_repr") || !strings.HasPrefix(repr, r.ObjectRepr) || len(r.ObjectRepr) < 10_000 || !utf8.ValidString(r.ObjectRepr) {
		t.Errorf("the entry with a long repr: id %d, shortened %v, repr of %d bytes", r.ID, r.Shortened, len(r.ObjectRepr))
	}
	if got[1].ID != 2 {
		t.Errorf("the entry after it: %+v", got[1])
	}
}

// A stream whose message limit was lowered while the sink ran refused
// every round's message over it until a restart: the sink read the limit
// once. A refusal for size reads it again, and the next round fits.
func TestSinkAfterTheStreamsLimitIsLowered(t *testing.T) {
	ctx := context.Background()
	sink, js, stream := limitedSink(t, 64<<10)
	e := auditlog.Entry{ID: 1, Timestamp: time.Now(), Action: auditlog.ActionCreate, Model: "docs", ObjectPK: "1", ObjectRepr: "d",
		Changes: auditlog.Changes{"body": {Old: json.RawMessage("null"), New: json.RawMessage(`"` + strings.Repeat("b", 5000) + `"`)}}}
	st, err := js.Stream(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	cfg := st.CachedInfo().Config
	cfg.MaxMsgSize = 4000
	if _, err := js.UpdateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	if err := sink.Publish(ctx, []auditlog.Entry{e}); err == nil {
		t.Fatal("the first round after the change: no error")
	}
	if err := sink.Publish(ctx, []auditlog.Entry{e}); err != nil {
		t.Fatalf("the next round: %v", err)
	}
}
