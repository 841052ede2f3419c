// Package auditrelay publishes committed entries out of the database: to
// NATS JetStream (auditnats.Sink), to JSON Lines for log shippers (JSONL),
// or to any Sink. It is an outbox: the entries are written in the same
// transaction as the changes they record, and a relay follows the entries
// table in commit order, publishes what committed, and keeps its position
// in the database (the auditlog_relay_state table, migration 4).
//
//	r, err := auditrelay.New(db, auditstore.Postgres, sink)
//	go r.Run(ctx, time.Second)
//
// A round publishes the entries before it saves its position, in one
// transaction that holds the relay's row lock: a relay that dies between
// the two publishes those entries again when it restarts, and a sink that
// drops duplicates by entry id (JetStream's duplicate window with
// Nats-Msg-Id does) stores each entry once. Several relays of one
// destination take turns on the lock, so only one publishes at a time.
package auditrelay

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/auditstore"
	"github.com/go-auditlog/auditlog/internal/follow"
)

// A Sink is where a relay delivers entries.
type Sink interface {
	// Name names the destination: the relay keeps its position under it
	// (a relay's Name overrides it).
	Name() string
	// Publish delivers entries, in the order given (id order). It returns
	// nil only once the destination holds every one of them durably; on
	// an error the relay delivers them all again in a later round, so a
	// destination should drop an entry whose id it already holds.
	Publish(ctx context.Context, entries []auditlog.Entry) error
}

// An IdentifiedSink is a Sink that tells its destination from another
// under the same name: a stream of that name on another server, or one
// deleted and made again. A relay saves the identity with its position and
// refuses to publish to a destination whose identity differs
// (ErrOtherDestination), for which the position does not hold: the
// entries below it were published elsewhere.
type IdentifiedSink interface {
	Sink
	// Identity identifies the destination, in at most 255 bytes.
	Identity() string
}

// ErrOtherDestination is returned by a round whose sink's identity is not
// the one the relay's position was saved with.
var ErrOtherDestination = errors.New("auditrelay: another destination than the one this relay's position was saved for")

// Defaults of a Relay.
const (
	DefaultGapWait  = 10 * time.Minute
	DefaultSweepFor = 24 * time.Hour
	DefaultBatch    = 1000
)

// A Relay publishes committed entries to a Sink, a round at a time.
type Relay struct {
	db   *sql.DB
	d    auditstore.Dialect
	sink Sink

	// Name is the key of the relay's position: relays with one name share
	// a position and take turns. Default: the sink's name.
	Name string
	// GapWait is how long a missing id holds the relay's position: keep it
	// above the longest transaction that writes entries. It is reported
	// (Position, lag) and no entry is skipped past it: an entry in a gap is
	// published whenever it commits within SweepFor.
	GapWait time.Duration
	// SweepFor is how long a missing id is looked into for a late entry.
	// An entry whose transaction commits later still is not published.
	SweepFor time.Duration
	// Batch bounds the new entries one round publishes.
	Batch int
	// Now is the relay's clock, for the age of gaps and the lag. Default:
	// time.Now.
	Now func() time.Time
	// Logger receives a line per round that published entries (debug), and
	// each failed round (error) from Run. Default: slog.Default().
	Logger *slog.Logger

	mu      sync.Mutex
	created bool // the state row was made (the first round)
}

// New returns a relay of the entries in db to sink.
func New(db *sql.DB, d auditstore.Dialect, sink Sink) (*Relay, error) {
	if db == nil || sink == nil {
		return nil, errors.New("auditrelay: New needs a database and a sink")
	}
	if _, err := auditstore.ParseDialect(string(d)); err != nil {
		return nil, err
	}
	return &Relay{db: db, d: d, sink: sink, GapWait: DefaultGapWait, SweepFor: DefaultSweepFor, Batch: DefaultBatch, Now: time.Now}, nil
}

func (r *Relay) name() (string, error) {
	n := r.Name
	if n == "" {
		n = r.sink.Name()
	}
	return n, CheckName(n)
}

// CheckName reports why name cannot name a relay's position, or nil: it
// must be 1 to 255 bytes of UTF-8 without NUL (PostgreSQL refuses the
// others, MySQL stores another name), not ending in a space (MariaDB and
// MySQL compare the key PAD SPACE: "a " is "a", whose position it would
// take).
func CheckName(name string) error {
	switch {
	case name == "" || len(name) > 255:
		return fmt.Errorf("auditrelay: relay name %q must be 1 to 255 bytes", name)
	case !utf8.ValidString(name) || strings.IndexByte(name, 0) >= 0:
		return fmt.Errorf("auditrelay: relay name %q is not UTF-8 text without NUL", name)
	case strings.HasSuffix(name, " "):
		return fmt.Errorf("auditrelay: relay name %q ends in a space; name it with Relay.Name (--name)", name)
	}
	return nil
}

// identity is the sink's destination identity, or "" for a sink that
// gives none.
func (r *Relay) identity() string {
	if s, ok := r.sink.(IdentifiedSink); ok {
		return s.Identity()
	}
	return ""
}

// sameDestination checks that a relay's position, saved for the
// destination saved, holds for the destination ident.
func sameDestination(name string, saved sql.NullString, ident string) error {
	if !saved.Valid || ident == "" || saved.String == ident {
		return nil
	}
	return fmt.Errorf("%w: relay %q saved its position for %q and would publish to %q, which lacks the entries below it. Give this destination a name of its own (Relay.Name, --name), or delete the position to publish every entry to it (DELETE FROM %s WHERE name = '…')",
		ErrOtherDestination, name, saved.String, ident, auditstore.RelayStateTable)
}

func (r *Relay) now() time.Time {
	if r.Now == nil {
		return time.Now()
	}
	return r.Now()
}

func (r *Relay) logger() *slog.Logger {
	if r.Logger == nil {
		return slog.Default()
	}
	return r.Logger
}

// RoundResult says what one round did.
type RoundResult struct {
	Published int   // entries published
	Hi        int64 // the highest entry id published so far
	Next      int64 // the relay's position: the lowest entry id not accounted for
	Gaps      int   // ranges of missing ids below Hi still looked into
	// More: the round published a full batch; more entries may be waiting.
	More bool
}

// state is a relay's saved position.
type state struct {
	hi      int64
	gaps    []follow.Gap
	relayed int64
	dest    sql.NullString // the destination's identity, saved with it
}

// Round publishes the entries committed since the last round.
func (r *Relay) Round(ctx context.Context) (res RoundResult, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	name, err := r.name()
	if err != nil {
		return res, err
	}
	if !r.created {
		// The state row is made first in a statement of its own: relays
		// of one name that start together and made it in their round's
		// transaction would deadlock on MariaDB (each holding the gap
		// lock of the missing row, each waiting to insert into it).
		if _, err := r.db.ExecContext(ctx, insertState(r.d), name); err != nil {
			return res, fmt.Errorf("auditrelay: create the relay's state (is the database migrated to version 5?): %w", err)
		}
		r.created = true
	}
	batch := r.Batch
	if batch <= 0 {
		batch = DefaultBatch
	}
	// On SQLite the position's lock is the database's write lock: a round
	// reads and publishes without it, so that the application's writes
	// never wait for the broker, and takes it only to save its position.
	unlocked := r.d == auditstore.SQLite
	var tx *sql.Tx
	defer func() {
		// Also when the sink panics: its lock must not outlive the round.
		// After a commit, Rollback does nothing.
		if tx != nil {
			_ = tx.Rollback()
		}
	}()
	var read state
	if unlocked {
		var ok bool
		if read, _, ok, err = readState(ctx, r.db, r.d, name); err != nil {
			return res, err
		} else if !ok {
			// Deleted since the first round: made again, from the start.
			if _, err = r.db.ExecContext(ctx, insertState(r.d), name); err != nil {
				return res, fmt.Errorf("auditrelay: create the relay's state: %w", err)
			}
		}
	} else {
		if tx, err = r.db.BeginTx(ctx, nil); err != nil {
			return res, fmt.Errorf("auditrelay: begin: %w", err)
		}
		if read, err = lockState(ctx, tx, r.d, name); err != nil {
			return res, err
		}
	}
	ident := r.identity()
	if err := sameDestination(name, read.dest, ident); err != nil {
		return res, err
	}
	var q auditstore.DBTX = r.db
	if tx != nil {
		q = tx
	}
	found, fresh, err := r.read(ctx, q, read, batch)
	if err != nil {
		return res, err
	}
	if len(found) > 0 {
		if err := r.sink.Publish(ctx, found); err != nil {
			return res, fmt.Errorf("auditrelay: publish %d entries to %s: %w", len(found), name, err)
		}
	}
	if unlocked {
		if tx, err = r.db.BeginTx(ctx, nil); err != nil {
			return res, fmt.Errorf("auditrelay: begin: %w", err)
		}
		cur, err := lockState(ctx, tx, r.d, name)
		if err != nil {
			return res, err
		}
		if err := sameDestination(name, cur.dest, ident); err != nil {
			return res, err
		}
		if cur.hi != read.hi || follow.Encode(cur.gaps) != follow.Encode(read.gaps) {
			// Another relay of this name saved first: what this round
			// published went out twice (a stream drops the repeats), and
			// its position stands.
			err = tx.Rollback()
			return RoundResult{Hi: cur.hi, Next: follow.Position(cur.gaps, cur.hi, r.now(), r.gapWait()), Gaps: len(cur.gaps), More: true}, err
		}
	}
	now := r.now()
	ids := make([]int64, len(found))
	for i, e := range found {
		ids[i] = e.ID
	}
	newHi := read.hi
	if len(fresh) > 0 {
		newHi = fresh[len(fresh)-1].ID
	}
	gaps := follow.Next(read.gaps, ids, read.hi, newHi, now, r.sweepFor())
	if err := saveState(ctx, tx, r.d, name, state{hi: newHi, gaps: gaps, relayed: read.relayed + int64(len(found)), dest: sql.NullString{String: ident, Valid: ident != ""}}, now); err != nil {
		return res, err
	}
	if err := tx.Commit(); err != nil {
		return res, fmt.Errorf("auditrelay: commit: %w", err)
	}
	return RoundResult{Published: len(found), Hi: newHi, Next: follow.Position(gaps, newHi, now, r.gapWait()), Gaps: len(gaps), More: len(fresh) == batch}, nil
}

// read reads, with q, what a round from the position st publishes: the
// entries found, in id order, and those of them above st.hi.
func (r *Relay) read(ctx context.Context, q auditstore.DBTX, st state, batch int) (found, fresh []auditlog.Entry, err error) {
	for i, rs := range follow.Reads(st.gaps, st.hi) {
		limit := 0
		if i == 0 {
			limit = batch
		}
		es, err := auditstore.EntriesIn(ctx, q, r.d, rs, limit)
		if err != nil {
			return nil, nil, fmt.Errorf("auditrelay: %w", err)
		}
		if i == 0 {
			// An entry above every id PostgreSQL's sequence handed out was
			// inserted with its id by hand: taken, it would leave the
			// writers' later entries (below it) in a gap that is given up
			// after SweepFor. It is not relayed.
			highest, known, err := auditstore.HighestIssuedID(ctx, q, r.d)
			if err != nil {
				return nil, nil, fmt.Errorf("auditrelay: %w", err)
			}
			es = auditstore.IssuedOnly(es, func(e auditlog.Entry) int64 { return e.ID }, highest, known)
			fresh = es
		}
		found = append(found, es...)
	}
	slices.SortFunc(found, func(a, b auditlog.Entry) int { return cmp.Compare(a.ID, b.ID) })
	return found, fresh, nil
}

func (r *Relay) gapWait() time.Duration {
	if r.GapWait <= 0 {
		return DefaultGapWait
	}
	return r.GapWait
}

func (r *Relay) sweepFor() time.Duration {
	if r.SweepFor <= 0 {
		return DefaultSweepFor
	}
	return r.SweepFor
}

// CatchUp runs rounds until one publishes less than a full batch, and
// returns the number of entries published.
func (r *Relay) CatchUp(ctx context.Context) (int, error) {
	total := 0
	for {
		res, err := r.Round(ctx)
		total += res.Published
		if err != nil || !res.More {
			return total, err
		}
	}
}

// Run publishes until ctx ends: rounds back to back while a batch is full,
// then one every interval. A failed round (one whose sink panicked too) is logged and tried again after
// interval, so that a broker that is down only delays the entries; Run
// returns ctx's error.
func (r *Relay) Run(ctx context.Context, interval time.Duration) error {
	if interval <= 0 {
		return errors.New("auditrelay: Run needs a positive interval")
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		res, err := r.safeRound(ctx)
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case err != nil:
			r.logger().Error("auditlog relay: round failed", "err", err)
		case res.Published > 0:
			r.logger().Debug("auditlog relay: published", "entries", res.Published, "hi", res.Hi, "next", res.Next, "gaps", res.Gaps)
		}
		if err == nil && res.More {
			continue
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// safeRound is a Round whose panic (the sink's) is a failed round: Run
// logs it and tries again, as after any failed round, instead of ending
// the program it runs in (auditgorm's Config.Relay runs it on its own).
func (r *Relay) safeRound(ctx context.Context) (res RoundResult, err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("auditrelay: the round panicked: %v", v)
		}
	}()
	return r.Round(ctx)
}

// Lag is how far a relay is behind the entries table.
type Lag struct {
	// Entries committed and not yet published: above the highest id
	// published, and late ones in its gaps.
	Entries int64
	// Behind is the age of the oldest of them (by its timestamp), 0 when
	// there is none.
	Behind time.Duration
	// Published is the number of entries the relay has published in all.
	Published int64
	// Updated is when the relay last saved its position (zero: never).
	Updated time.Time
}

// Lag reads how far the relay is behind, without taking its lock.
func (r *Relay) Lag(ctx context.Context) (Lag, error) {
	name, err := r.name()
	if err != nil {
		return Lag{}, err
	}
	return ReadLag(ctx, r.db, r.d, name, r.now())
}

// ReadLag reads how far the relay named name is behind at now.
func ReadLag(ctx context.Context, db *sql.DB, d auditstore.Dialect, name string, now time.Time) (Lag, error) {
	var lag Lag
	st, updated, ok, err := readState(ctx, db, d, name)
	if err != nil {
		return lag, err
	}
	if !ok {
		st.hi = -1 << 63 // nothing published yet: every entry is behind
	} else {
		lag.Published = st.relayed
		if updated > 0 {
			// (A state row a first round created and did not save says
			// 0: never, not 1970.)
			lag.Updated = time.UnixMilli(updated)
		}
	}
	var oldest time.Time
	for _, rs := range follow.Reads(st.gaps, st.hi) {
		cond, args := auditstore.IDRangesSQL(d, rs, 1)
		var n int64
		var ts any
		q := "SELECT COUNT(*), " + auditstore.TimeColumn(d, "MIN("+timeOnly[d]+")") + " FROM " + auditstore.Table + " WHERE " + cond
		if err := db.QueryRowContext(ctx, q, args...).Scan(&n, &ts); err != nil {
			return lag, fmt.Errorf("auditrelay: read the lag: %w", err)
		}
		lag.Entries += n
		if n > 0 && ts != nil {
			t, err := auditstore.DecodeTime(d, ts)
			if err != nil {
				// A time that is no time (Entry.Unreadable) has no age;
				// the entry is counted all the same.
				continue
			}
			if oldest.IsZero() || t.Before(oldest) {
				oldest = t
			}
		}
	}
	if !oldest.IsZero() && now.After(oldest) {
		lag.Behind = now.Sub(oldest)
	}
	return lag, nil
}

// timeOnly is the timestamp where it holds a time, else NULL, so that the
// oldest waiting entry's age is that of the oldest readable time: damaged
// values (Entry.Unreadable) that sort first, text below any date on
// SQLite, -infinity on PostgreSQL, a zero date on MariaDB, are left out.
var timeOnly = map[auditstore.Dialect]string{
	auditstore.SQLite:   "CASE WHEN typeof(timestamp) = 'text' AND timestamp >= '0001' THEN timestamp END",
	auditstore.Postgres: "CASE WHEN timestamp > '-infinity' THEN timestamp END",
	auditstore.MySQL:    "CASE WHEN timestamp >= '0001-01-01' THEN timestamp END",
}

// lockState takes the relay's lock (its state row, written first: a row
// lock on PostgreSQL and MariaDB, the write lock on SQLite) and returns its
// position, creating the row on a first round.
func lockState(ctx context.Context, tx *sql.Tx, d auditstore.Dialect, name string) (state, error) {
	ph := d.Placeholder
	touch := "UPDATE " + auditstore.RelayStateTable + " SET hi = hi WHERE name = " + ph(1)
	if _, err := tx.ExecContext(ctx, touch, name); err != nil {
		return state{}, fmt.Errorf("auditrelay: lock the relay's state (is the database migrated to version 5?): %w", err)
	}
	// Made again if it was deleted since the relay's first round.
	if _, err := tx.ExecContext(ctx, insertState(d), name); err != nil {
		return state{}, fmt.Errorf("auditrelay: create the relay's state: %w", err)
	}
	// A locking read: the latest row, which MySQL's snapshot may predate.
	lock := " FOR UPDATE"
	if d == auditstore.SQLite {
		lock = "" // the write took the write lock
	}
	var st state
	var gaps string
	if err := tx.QueryRowContext(ctx, "SELECT hi, gaps, relayed, destination FROM "+auditstore.RelayStateTable+" WHERE name = "+ph(1)+lock, name).Scan(&st.hi, &gaps, &st.relayed, &st.dest); err != nil {
		return state{}, fmt.Errorf("auditrelay: read the relay's state (is the database migrated to version 5?): %w", err)
	}
	var err error
	if st.gaps, err = decodeGaps(gaps); err != nil {
		return state{}, err
	}
	return st, nil
}

// insertState makes a relay's state row where it is absent.
func insertState(d auditstore.Dialect) string {
	switch d {
	case auditstore.MySQL:
		return "INSERT IGNORE INTO " + auditstore.RelayStateTable + " (name, hi, gaps, relayed, updated_at) VALUES (?, 0, '[]', 0, 0)"
	case auditstore.SQLite:
		return "INSERT OR IGNORE INTO " + auditstore.RelayStateTable + " (name, hi, gaps, relayed, updated_at) VALUES (?, 0, '[]', 0, 0)"
	}
	return "INSERT INTO " + auditstore.RelayStateTable + " (name, hi, gaps, relayed, updated_at) VALUES ($1, 0, '[]', 0, 0) ON CONFLICT DO NOTHING"
}

func readState(ctx context.Context, db *sql.DB, d auditstore.Dialect, name string) (st state, updated int64, ok bool, err error) {
	var gaps string
	err = db.QueryRowContext(ctx, "SELECT hi, gaps, relayed, updated_at, destination FROM "+auditstore.RelayStateTable+" WHERE name = "+d.Placeholder(1), name).Scan(&st.hi, &gaps, &st.relayed, &updated, &st.dest)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return st, 0, false, nil
	case err != nil:
		return st, 0, false, fmt.Errorf("auditrelay: read the relay's state (is the database migrated to version 5?): %w", err)
	}
	st.gaps, err = decodeGaps(gaps)
	return st, updated, err == nil, err
}

func saveState(ctx context.Context, tx *sql.Tx, d auditstore.Dialect, name string, st state, now time.Time) error {
	ph := d.Placeholder
	_, err := tx.ExecContext(ctx, "UPDATE "+auditstore.RelayStateTable+" SET hi = "+ph(1)+", gaps = "+ph(2)+", relayed = "+ph(3)+", updated_at = "+ph(4)+", destination = COALESCE("+ph(5)+", destination) WHERE name = "+ph(6),
		st.hi, follow.Encode(st.gaps), st.relayed, now.UnixMilli(), st.dest, name)
	if err != nil {
		return fmt.Errorf("auditrelay: save the relay's position: %w", err)
	}
	return nil
}

func decodeGaps(s string) ([]follow.Gap, error) {
	gaps, err := follow.Decode(s)
	if err != nil {
		return nil, fmt.Errorf("auditrelay: the relay's %w", err)
	}
	return gaps, nil
}
