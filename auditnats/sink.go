package auditnats

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	neturl "net/url"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/auditstore"
)

// Defaults of the stream and subjects a Sink publishes entries to.
const (
	DefaultEntriesStream = "AUDITLOG_ENTRIES"
	DefaultEntriesPrefix = "auditlog.entries"
	// DefaultDuplicates is the duplicate window of a stream a Sink
	// creates: an entry published again within it (by a relay restarted
	// after a crash) is stored once.
	DefaultDuplicates = 10 * time.Minute
)

// SinkOptions say where a Sink publishes.
type SinkOptions struct {
	// Stream is the JetStream stream, created when absent. Default:
	// DefaultEntriesStream.
	Stream string
	// Prefix of the subjects: an entry goes to PREFIX.<model>.<action>.
	// Default: DefaultEntriesPrefix.
	Prefix string
	// Duplicates is the duplicate window of a stream the sink creates.
	// Default: DefaultDuplicates. An existing stream keeps its own.
	Duplicates time.Duration
}

// A Sink publishes entries to NATS JetStream, one message each: the JSON
// record `auditlog export --format jsonl` writes, on the subject
// PREFIX.<model>.<action> (a model's characters other than letters, digits,
// '-' and '_' become '_'), with PREFIX:<entry id> as its Nats-Msg-Id
// (MsgID), so that the stream stores an entry published twice within its
// duplicate window once, and another application's entry of the same id,
// relayed into the same stream under its own prefix, too. It is an
// auditrelay.IdentifiedSink: its identity is the stream's name and
// creation time, so that a relay named after the stream alone refuses a
// stream of that name on another server, or one made again, rather than
// going on from a position that holds only for the first.
type Sink struct {
	js      jetstream.JetStream
	nc      *nats.Conn
	ownConn bool
	stream  string
	prefix  string
	created time.Time    // the stream's creation, as the server reports it
	maxMsg  atomic.Int64 // the stream's largest message, when it sets one
	dups    atomic.Int64
}

// ConnectSink connects to the server at url (nats://host:4222) and makes
// sure the stream exists and takes the sink's subjects. Close it when done.
func ConnectSink(ctx context.Context, url string, o SinkOptions, opts ...nats.Option) (*Sink, error) {
	u, err := neturl.Parse(url)
	if err != nil || (u.Scheme != "nats" && u.Scheme != "tls") || u.Host == "" {
		return nil, errors.New("auditnats: not a nats://host:port URL")
	}
	if err := oneServer(u, url); err != nil {
		return nil, err
	}
	if strings.Trim(u.Path, "/") != "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, errors.New("auditnats: the entries' server URL takes no subject or stream (they are options)")
	}
	// No reconnect buffer: messages published while the connection is
	// down fail at once instead of going out after a reconnect, behind
	// the earlier ones that were lost with the connection (which the next
	// round then stores after them, out of order).
	nc, err := dial(Target{URL: url}, append([]nats.Option{nats.ReconnectBufSize(-1)}, opts...))
	if err != nil {
		return nil, err
	}
	s, err := NewSink(ctx, nc, o)
	if err != nil {
		nc.Close()
		return nil, err
	}
	s.ownConn = true
	return s, nil
}

// NewSink is ConnectSink over a connection of the caller's.
func NewSink(ctx context.Context, nc *nats.Conn, o SinkOptions) (*Sink, error) {
	if o.Stream == "" {
		o.Stream = DefaultEntriesStream
	}
	if o.Prefix == "" {
		o.Prefix = DefaultEntriesPrefix
	}
	if o.Duplicates == 0 {
		o.Duplicates = DefaultDuplicates
	}
	if strings.ContainsAny(o.Stream, " .*>/\\\t\r\n") {
		return nil, fmt.Errorf("auditnats: %q is not a stream name", o.Stream)
	}
	if !validPrefix(o.Prefix) {
		return nil, fmt.Errorf("auditnats: %q is not a subject prefix (tokens of letters, digits, - and _, joined by dots)", o.Prefix)
	}
	if o.Duplicates < 0 {
		return nil, errors.New("auditnats: a negative duplicate window")
	}
	// An acknowledgement that does not come fails its round, which
	// publishes the entries again.
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncTimeout(30*time.Second), jetstream.WithPublishAsyncMaxPending(2*publishWindow))
	if err != nil {
		return nil, fmt.Errorf("auditnats: %w", err)
	}
	subjects := o.Prefix + ".>"
	st, err := js.Stream(ctx, o.Stream)
	switch {
	case errors.Is(err, jetstream.ErrStreamNotFound):
		st, err = js.CreateStream(ctx, jetstream.StreamConfig{Name: o.Stream, Subjects: []string{subjects}, Duplicates: o.Duplicates, Description: "audit log entries"})
	case err == nil:
		cfg := st.CachedInfo().Config
		if !slices.Contains(cfg.Subjects, subjects) {
			cfg.Subjects = append(cfg.Subjects, subjects)
			_, err = js.UpdateStream(ctx, cfg)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("auditnats: stream %s for %s: %w", o.Stream, subjects, err)
	}
	info := st.CachedInfo()
	sink := &Sink{js: js, nc: nc, stream: o.Stream, prefix: o.Prefix, created: info.Created}
	sink.maxMsg.Store(int64(info.Config.MaxMsgSize))
	return sink, nil
}

// Identity is the stream's name and creation time
// ("stream AUDITLOG_ENTRIES created 2026-12-06T11:14:11.123456789Z").
func (s *Sink) Identity() string {
	return "stream " + s.stream + " created " + s.created.UTC().Format(time.RFC3339Nano)
}

// MsgID is the Nats-Msg-Id of e's message: the prefix and the entry's id
// ("auditlog.entries:42"). The id alone would make a stream that two
// databases relay into under their own prefixes drop the second one's
// entries as duplicates of the first one's.
func (s *Sink) MsgID(e auditlog.Entry) string {
	return s.prefix + ":" + strconv.FormatInt(e.ID, 10)
}

func validPrefix(p string) bool {
	if p == "" {
		return false
	}
	for tok := range strings.SplitSeq(p, ".") {
		if tok == "" || subjectToken(tok) != tok {
			return false
		}
	}
	return true
}

// subjectToken returns s with every character but letters, digits, '-'
// and '_' replaced by '_': one token of a subject.
func subjectToken(s string) string {
	if s == "" {
		return "_"
	}
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			b[i] = '_'
		}
	}
	return string(b)
}

// Subject returns the subject an entry is published on.
func (s *Sink) Subject(e auditlog.Entry) string {
	action := e.Action.String()
	if e.UnreadableColumn("action") {
		action = "unreadable" // its zero Action would read as create
	}
	return s.prefix + "." + subjectToken(e.Model) + "." + subjectToken(action)
}

// Name is "nats:" and the stream's name.
func (s *Sink) Name() string { return "nats:" + s.stream }

// Duplicates returns how many published entries the stream reported as
// already stored (published again after a relay's crash).
func (s *Sink) Duplicates() int64 { return s.dups.Load() }

// publishWindow bounds the messages awaiting their acknowledgement.
const publishWindow = 1000

// Publish publishes entries in order and waits until the stream has
// stored every one.
func (s *Sink) Publish(ctx context.Context, entries []auditlog.Entry) error {
	for start := 0; start < len(entries); start += publishWindow {
		chunk := entries[start:min(start+publishWindow, len(entries))]
		futures := make([]jetstream.PubAckFuture, 0, len(chunk))
		limit := s.msgLimit()
		for _, e := range chunk {
			data, err := json.Marshal(auditstore.NewExportRecord(e))
			if err != nil {
				return fmt.Errorf("entry %d: %w", e.ID, err)
			}
			if body := limit - s.headerBytes(s.MsgID(e)); limit > 0 && int64(len(data)) > body {
				if data, err = shortened(auditstore.NewExportRecord(e), body); err != nil {
					return fmt.Errorf("entry %d: %w (a message may take %d bytes here, its headers %d: the server's max_payload or the stream's max_msg_size)", e.ID, err, limit, limit-body)
				}
			}
			m := &nats.Msg{Subject: s.Subject(e), Data: data, Header: nats.Header{}}
			f, err := s.js.PublishMsgAsync(m, jetstream.WithMsgID(s.MsgID(e)), jetstream.WithExpectStream(s.stream))
			if err != nil {
				return fmt.Errorf("publish entry %d: %w", e.ID, err)
			}
			futures = append(futures, f)
		}
		var failed error
		for i, f := range futures {
			// After a failure the others are waited for too: none is
			// left in flight when the next round publishes them again.
			select {
			case ack := <-f.Ok():
				if ack.Duplicate {
					s.dups.Add(1)
				}
			case err := <-f.Err():
				if failed == nil {
					failed = fmt.Errorf("publish entry %d: %w", chunk[i].ID, err)
				}
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		if failed != nil {
			if isMessageTooLarge(failed) {
				s.refreshLimit(ctx)
			}
			return failed
		}
	}
	return nil
}

// msgLimit is the largest message (headers and body) the server and the
// stream take: the server's payload limit (max_payload, 1 MiB by default)
// or the stream's message limit, the smaller; 0 when neither is known.
func (s *Sink) msgLimit() int64 {
	limit := s.nc.MaxPayload()
	if m := s.maxMsg.Load(); m > 0 && (limit <= 0 || m < limit) {
		limit = m
	}
	return max(limit, 0)
}

// jsMessageTooLarge is JetStream's error code for a message over the
// stream's max_msg_size.
const jsMessageTooLarge jetstream.ErrorCode = 10054

// isMessageTooLarge reports whether err refused a message for its size.
func isMessageTooLarge(err error) bool {
	var je jetstream.JetStreamError
	if errors.As(err, &je) && je.APIError() != nil && je.APIError().ErrorCode == jsMessageTooLarge {
		return true
	}
	return errors.Is(err, nats.ErrMaxPayload)
}

// refreshLimit reads the stream's message limit again: one lowered while
// the sink runs refused every round's message over it, which is now
// shortened to fit (a failure to read it leaves the limit as it was).
func (s *Sink) refreshLimit(ctx context.Context) {
	if st, err := s.js.Stream(ctx, s.stream); err == nil {
		s.maxMsg.Store(int64(st.CachedInfo().Config.MaxMsgSize))
	}
}

// headerBytes is what the headers of the message of an entry whose
// Nats-Msg-Id is id take: the version line, Nats-Msg-Id and
// Nats-Expected-Stream, and the blank line.
func (s *Sink) headerBytes(id string) int64 {
	return int64(len("NATS/1.0\r\n") + len(jetstream.MsgIDHeader+": \r\n") + len(id) + len(jetstream.ExpectedStreamHeader+": \r\n") + len(s.stream) + len("\r\n"))
}

// shortRecord is the record of an entry too large for one message, with
// the names of what was shortened to fit it.
type shortRecord struct {
	auditstore.ExportRecord
	// Shortened names each value replaced by its digest
	// ("changes.body.new", "serialized_data", "additional_data"), or
	// "changes" when the changes are left out whole, and "object_repr"
	// when the repr is cut short.
	Shortened []string `json:"shortened"`
}

// shortened is rec's body within limit bytes: its largest values replaced
// by their digests ({"$digest": "sha256:…", "$bytes": n}, the SHA-256 and
// length of the value's JSON as the entry stores it), largest first,
// until it fits; failing that, without its changes and data. The entry in
// the database stays whole: a consumer that needs the values reads it by
// its id.
func shortened(rec auditstore.ExportRecord, limit int64) ([]byte, error) {
	type value struct {
		name string
		raw  json.RawMessage
		set  func(json.RawMessage)
	}
	changes := make(auditlog.Changes, len(rec.Changes))
	var values []value
	for name, c := range rec.Changes {
		changes[name] = c
		if c.M2M != nil {
			continue
		}
		values = append(values,
			value{"changes." + name + ".old", c.Old, func(r json.RawMessage) { c := changes[name]; c.Old = r; changes[name] = c }},
			value{"changes." + name + ".new", c.New, func(r json.RawMessage) { c := changes[name]; c.New = r; changes[name] = c }})
	}
	rec.Changes = changes
	values = append(values,
		value{"serialized_data", rec.SerializedData, func(r json.RawMessage) { rec.SerializedData = r }},
		value{"additional_data", rec.AdditionalData, func(r json.RawMessage) { rec.AdditionalData = r }})
	slices.SortStableFunc(values, func(a, b value) int { return len(b.raw) - len(a.raw) })
	out := shortRecord{}
	for _, v := range values {
		if len(v.raw) <= len(`{"$digest":"sha256:","$bytes":}`)+2*sha256.Size+8 {
			break // no shorter as a digest
		}
		sum := sha256.Sum256(v.raw)
		v.set(json.RawMessage(fmt.Sprintf(`{"$digest":"sha256:%s","$bytes":%d}`, hex.EncodeToString(sum[:]), len(v.raw))))
		out.Shortened = append(out.Shortened, v.name)
		out.ExportRecord = rec
		data, err := json.Marshal(out)
		if err != nil || int64(len(data)) <= limit {
			return data, err
		}
	}
	rec.Changes, rec.SerializedData, rec.AdditionalData = nil, nil, nil
	out.ExportRecord, out.Shortened = rec, []string{"changes", "serialized_data", "additional_data"}
	data, err := json.Marshal(out)
	// Then its repr (up to 64 KiB), cut at a character boundary: a long
	// one made every round fail on a stream whose messages are smaller.
	for err == nil && int64(len(data)) > limit && out.ObjectRepr != "" {
		if !slices.Contains(out.Shortened, "object_repr") {
			out.Shortened = append(out.Shortened, "object_repr")
		}
		cut := max(0, len(out.ObjectRepr)-int(int64(len(data))-limit)-8)
		for cut > 0 && !utf8.RuneStart(out.ObjectRepr[cut]) {
			cut--
		}
		out.ObjectRepr = out.ObjectRepr[:cut]
		data, err = json.Marshal(out)
	}
	if err == nil && int64(len(data)) > limit {
		err = fmt.Errorf("auditnats: its record is larger than a message's %d bytes of body, even without its changes and repr", limit)
	}
	return data, err
}

// Close closes the connection ConnectSink opened, after the messages in
// flight are sent, and returns the error of that drain.
func (s *Sink) Close() error {
	if s.ownConn {
		if err := s.nc.Drain(); err != nil {
			return fmt.Errorf("auditnats: close the sink's connection: %w", err)
		}
	}
	return nil
}
