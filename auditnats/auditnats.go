// Package auditnats keeps the sealed log's checkpoints (package auditseal)
// in NATS JetStream, a system that whoever controls the database does not
// control: a Witness publishes each checkpoint, and Checkpoints reads them
// all back for auditseal.Verify.
package auditnats

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Defaults of the stream and subject checkpoints go to.
const (
	DefaultStream  = "AUDITLOG_CHECKPOINTS"
	DefaultSubject = "auditlog.checkpoints"
)

// Target is where checkpoints go: a server, a stream and a subject. Parse
// reads one from a URL: nats://host:4222[/subject][?stream=NAME].
type Target struct {
	URL     string // the server, as nats.Connect takes it
	Stream  string
	Subject string
}

// Host is the server as messages name it: without its user part, which
// holds NATS credentials (a token, or user and password).
func (t Target) Host() string {
	u, err := url.Parse(t.URL)
	if err != nil {
		return "the NATS server"
	}
	return u.Scheme + "://" + u.Host
}

// Parse reads a target from a nats:// URL. The subject and the stream
// default to DefaultSubject and DefaultStream.
func Parse(raw string) (Target, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "nats" && u.Scheme != "tls") || u.Host == "" {
		return Target{}, errors.New("auditnats: not a nats://host:port[/subject][?stream=NAME] URL")
	}
	if err := oneServer(u, raw); err != nil {
		return Target{}, err
	}
	t := Target{Stream: DefaultStream, Subject: DefaultSubject}
	if s := strings.Trim(u.Path, "/"); s != "" {
		t.Subject = s
	}
	if s := u.Query().Get("stream"); s != "" {
		t.Stream = s
	}
	if strings.ContainsAny(t.Subject, " *>\t\r\n") || strings.Contains(t.Subject, "..") || strings.HasPrefix(t.Subject, ".") || strings.HasSuffix(t.Subject, ".") {
		return Target{}, fmt.Errorf("auditnats: %q is not a subject checkpoints can be published to", t.Subject)
	}
	if strings.ContainsAny(t.Stream, " .*>/\\\t\r\n") {
		return Target{}, fmt.Errorf("auditnats: %q is not a stream name", t.Stream)
	}
	u.Path, u.RawQuery = "", ""
	t.URL = u.String()
	return t, nil
}

// oneServer refuses a list of servers, as NATS clients take one (u is
// raw parsed): read as one URL, the second server would be the subject,
// its password too.
func oneServer(u *url.URL, raw string) error {
	if strings.Contains(u.Host, ",") || strings.Contains(raw, ",nats://") || strings.Contains(raw, ",tls://") {
		return errors.New("auditnats: a list of servers is not taken: give one nats://host:port URL")
	}
	return nil
}

// Witness publishes checkpoints to a JetStream subject, each with a hash
// of its bytes in the message id: the same checkpoint sent twice is stored
// once, and a tree signed again at the same size with a new position (a
// new checkpoint) is stored too.
type Witness struct {
	js      jetstream.JetStream
	target  Target
	nc      *nats.Conn
	ownConn bool
}

// Connect connects to t's server and makes sure its stream holds its
// subject (creating the stream if it is absent). Close the witness when
// done.
func Connect(ctx context.Context, t Target, opts ...nats.Option) (*Witness, error) {
	nc, err := dial(t, opts)
	if err != nil {
		return nil, err
	}
	w, err := NewWitness(ctx, nc, t)
	if err != nil {
		nc.Close()
		return nil, err
	}
	w.ownConn = true
	return w, nil
}

// NewWitness is Connect over a connection of the caller's.
func NewWitness(ctx context.Context, nc *nats.Conn, t Target) (*Witness, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("auditnats: %w", err)
	}
	s, err := js.Stream(ctx, t.Stream)
	switch {
	case errors.Is(err, jetstream.ErrStreamNotFound):
		_, err = js.CreateStream(ctx, jetstream.StreamConfig{Name: t.Stream, Subjects: []string{t.Subject}, Description: "checkpoints of sealed audit logs"})
	case err == nil:
		cfg := s.CachedInfo().Config
		if !slices.Contains(cfg.Subjects, t.Subject) {
			cfg.Subjects = append(cfg.Subjects, t.Subject)
			_, err = js.UpdateStream(ctx, cfg)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("auditnats: stream %s for %s: %w", t.Stream, t.Subject, err)
	}
	return &Witness{js: js, target: t, nc: nc}, nil
}

// Holds reports whether the latest message of the witness's subject is
// the checkpoint (auditseal.Holder): a sealer's first round sends the
// latest checkpoint only where it is not, so that quiet runs of
// seal --once store no copies of it past the stream's duplicate window.
func (w *Witness) Holds(ctx context.Context, checkpoint []byte) (bool, error) {
	s, err := w.js.Stream(ctx, w.target.Stream)
	if err != nil {
		return false, fmt.Errorf("auditnats: %w", err)
	}
	m, err := s.GetLastMsgForSubject(ctx, w.target.Subject)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("auditnats: %w", err)
	}
	return bytes.Equal(m.Data, checkpoint), nil
}

// Witness publishes the checkpoint of a tree of size leaves and waits for
// the stream to store it.
func (w *Witness) Witness(ctx context.Context, size int64, checkpoint []byte) error {
	sum := sha256.Sum256(checkpoint)
	_, err := w.js.Publish(ctx, w.target.Subject, checkpoint, jetstream.WithMsgID(w.target.Subject+":"+hex.EncodeToString(sum[:])))
	if err != nil {
		return fmt.Errorf("auditnats: publish checkpoint %d to %s: %w", size, w.target.Subject, err)
	}
	return nil
}

// Close closes the connection Connect opened.
func (w *Witness) Close() {
	if w.ownConn {
		w.nc.Close()
	}
}

// dial connects to t's server.
func dial(t Target, opts []nats.Option) (*nats.Conn, error) {
	nc, err := nats.Connect(t.URL, opts...)
	if err != nil {
		return nil, fmt.Errorf("auditnats: connect to %s: %w", t.Host(), err)
	}
	return nc, nil
}

// connect connects to t's server and its JetStream.
func connect(t Target, opts []nats.Option) (*nats.Conn, jetstream.JetStream, error) {
	nc, err := dial(t, opts)
	if err != nil {
		return nil, nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, fmt.Errorf("auditnats: %w", err)
	}
	return nc, js, nil
}

// Checkpoints connects to t's server and returns every checkpoint its
// subject holds, oldest first: Verify checks the log against each, so a
// log rewritten and sealed again after an older checkpoint was published
// is caught by that checkpoint.
func Checkpoints(ctx context.Context, t Target, opts ...nats.Option) ([][]byte, error) {
	nc, js, err := connect(t, opts)
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	s, err := js.Stream(ctx, t.Stream)
	if err != nil {
		return nil, fmt.Errorf("auditnats: stream %s: %w", t.Stream, err)
	}
	c, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{FilterSubjects: []string{t.Subject}})
	if err != nil {
		return nil, fmt.Errorf("auditnats: read %s: %w", t.Subject, err)
	}
	info, err := c.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("auditnats: read %s: %w", t.Subject, err)
	}
	pending := int(info.NumPending)
	var out [][]byte
	for len(out) < pending {
		batch, err := c.Fetch(min(500, pending-len(out)), jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			return nil, fmt.Errorf("auditnats: read %s: %w", t.Subject, err)
		}
		n := len(out)
		for m := range batch.Messages() {
			out = append(out, m.Data())
		}
		if err := batch.Error(); err != nil {
			return nil, fmt.Errorf("auditnats: read %s: %w", t.Subject, err)
		}
		if len(out) == n {
			return nil, fmt.Errorf("auditnats: read %s: %d of %d checkpoints arrived", t.Subject, n, pending)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("auditnats: %s holds no checkpoint", t.Subject)
	}
	return out, nil
}
