package auditseal

import (
	"bytes"
	"cmp"
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/transparency-dev/formats/log"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/go-auditlog/auditlog/auditstore"
	"github.com/go-auditlog/auditlog/internal/follow"
)

// The sealer's tables (auditstore's migrations 3 and 5).
const (
	leavesTable      = auditstore.SealLeavesTable
	hashesTable      = auditstore.SealHashesTable
	checkpointsTable = auditstore.SealCheckpointsTable
	stateTable       = auditstore.SealStateTable
)

// Defaults of a Sealer.
const (
	DefaultGapWait  = 10 * time.Minute
	DefaultSweepFor = 24 * time.Hour
	DefaultBatch    = 10_000
)

// A Sealer appends committed entries to the tree, a round at a time.
//
// It follows the entries table in commit order as package follow
// describes (the relay, package auditrelay, follows it the same way): it
// appends entries in the order it first sees them committed and records
// each leaf's entry id, so a late entry is simply a later leaf. The ids
// missing below the highest sealed one are its gaps, read every round and
// saved with its position (so a sealer that starts again goes on); its
// position (the lowest id it cannot yet account for) stays at the first gap
// younger than GapWait, and a gap is read for late entries for SweepFor.
// An entry that commits later still is reported by Verify as unsealed
// inside the sealed range.
type Sealer struct {
	db     *sql.DB
	d      auditstore.Dialect
	signer note.Signer
	origin string

	// GapWait is how long a missing id holds the sealer's position: keep
	// it above the longest transaction that writes entries.
	GapWait time.Duration
	// SweepFor is how long a missing id is looked into for a late entry.
	SweepFor time.Duration
	// Batch bounds the new entries one round appends.
	Batch int
	// Now is the sealer's clock, for the age of gaps. Default: time.Now.
	Now func() time.Time
	// Witnesses receive each checkpoint once it is committed, to keep it
	// where whoever controls the database cannot change it (FileWitness, a
	// message broker). A witness's error fails the round after its commit;
	// each later round sends the checkpoint that witness missed again
	// (while nothing new is signed: a quiet log's last checkpoint must
	// reach it too), until a newer one reaches it.
	Witnesses []Witness
	// Logger, when set, receives a line per round of Run that sealed
	// entries (debug: sealed, size, position) and one per failed round
	// (error), besides Run's onError.
	Logger *slog.Logger

	mu sync.Mutex
	// seen is the most this sealer has seen signed: the checkpoints table
	// keeps one note per size, and a round that signs only a moved
	// position or new prune records signs its size again in place, so an
	// older note of that size written back would sign less.
	seen struct {
		size, next int64
		prunes     signedPrunes
	}
	// started: a round of this sealer committed.
	started bool
	// missed are the witnesses whose delivery of the checkpoint of size
	// missedSize, missedNote, failed.
	missed     []Witness
	missedSize int64
	missedNote []byte
}

// A Holder is a Witness that can tell whether the latest checkpoint it
// keeps is the one given: a sealer's first round, which sends the latest
// checkpoint again (one missed before it started), skips those that do.
type Holder interface {
	Holds(ctx context.Context, checkpoint []byte) (bool, error)
}

// A Witness keeps checkpoints outside the database.
type Witness interface {
	// Witness keeps the signed checkpoint of a tree of size leaves.
	Witness(ctx context.Context, size int64, checkpoint []byte) error
}

// New returns a sealer of the entries in db, signing checkpoints of the
// log named origin with signer.
func New(db *sql.DB, d auditstore.Dialect, signer note.Signer, origin string) (*Sealer, error) {
	if db == nil {
		return nil, errors.New("auditseal: no database")
	}
	if _, err := auditstore.New(db, d); err != nil {
		return nil, fmt.Errorf("auditseal: %w", err)
	}
	if signer == nil {
		return nil, errors.New("auditseal: no signer")
	}
	if origin == "" || strings.ContainsAny(origin, "\n") {
		return nil, fmt.Errorf("auditseal: origin %q must be one non-empty line", origin)
	}
	return &Sealer{db: db, d: d, signer: signer, origin: origin, GapWait: DefaultGapWait, SweepFor: DefaultSweepFor, Batch: DefaultBatch, Now: time.Now}, nil
}

// RoundResult says what one round did.
type RoundResult struct {
	Sealed int   // entries appended
	Size   int64 // leaves in the tree after the round
	Next   int64 // the sealer's position: the lowest entry id not accounted for
	// Signed: the round signed a checkpoint, which went to the witnesses.
	Signed bool
}

// Round appends the entries committed since the last round, in one
// transaction that several sealers of one database take in turn, and
// signs a checkpoint when the tree grew.
func (s *Sealer) Round(ctx context.Context) (res RoundResult, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return res, fmt.Errorf("auditseal: begin: %w", err)
	}
	defer func() {
		// Also when the signer panics: the sealer's lock (on SQLite the
		// database's) must not outlive the round. After a commit,
		// Rollback does nothing.
		_ = tx.Rollback()
	}()
	q := queries{tx: tx, d: s.d}
	next, saved, err := q.lockState(ctx)
	if err != nil {
		return res, err
	}
	size, hi, err := q.treeSize(ctx)
	if err != nil {
		return res, err
	}
	if size < s.seen.size {
		// A tree never shrinks: a flush marks its leaves, and keeps them.
		return res, fmt.Errorf("%w: the log has %d leaves, where this sealer signed %d", ErrAltered, size, s.seen.size)
	}
	signedNext, signedPrunes, latest, err := q.checkTree(ctx, size, s.origin, s.signer)
	if err != nil {
		return res, err
	}
	if size == s.seen.size && (signedNext < s.seen.next || s.seen.prunes.ok && (!signedPrunes.ok || signedPrunes.seq < s.seen.prunes.seq)) {
		return res, fmt.Errorf("%w: the checkpoint of %d leaves signs position %d and prune records up to %d, where this sealer saw %d and %d signed (an older note written back)",
			ErrAltered, size, signedNext, signedPrunes.seq, s.seen.next, s.seen.prunes.seq)
	}
	// The position never goes back: the one the latest checkpoint signs
	// holds against a lowered state row. Entry ids start at 1.
	next = max(next, signedNext, 1)
	hi = max(hi, next-1)
	now := s.Now()
	// The gaps the last round saved with the tree it left, which holds
	// those below the position that are still looked into. Where none
	// are (a state saved before version 5, or by a sealer that saves
	// none), they are rebuilt from the leaves above the position.
	gaps, ok, err := decodeState(saved, size, hi, now)
	if err != nil {
		return res, err
	}
	if !ok {
		if gaps, err = q.gapsBetween(ctx, next, hi, now); err != nil {
			return res, err
		}
	}
	// The new entries above the highest id sealed, then late ones in the
	// gaps, appended in id order.
	var found, fresh []*rawEntry
	for i, rs := range follow.Reads(gaps, hi) {
		limit := 0
		if i == 0 {
			limit = s.batch()
		}
		cond, args := auditstore.IDRangesSQL(q.d, rs, 1)
		if i > 0 {
			// Saved gaps are not signed: an id in one that a leaf names
			// is not read again, so it cannot stop the round.
			cond = "(" + cond + ") AND NOT EXISTS (SELECT 1 FROM " + leavesTable + " l WHERE l.entry_id = " + auditstore.Table + ".id)"
		}
		es, err := q.entries(ctx, cond, limit, args...)
		if err != nil {
			return res, err
		}
		if i == 0 {
			// An entry above every id PostgreSQL's sequence handed out was
			// inserted with its id by hand: sealed, it would leave the
			// writers' later entries (below it) in a gap that is given up
			// after SweepFor. It is left for Verify to report.
			highest, known, err := auditstore.HighestIssuedID(ctx, q.tx, q.d)
			if err != nil {
				return res, fmt.Errorf("auditseal: %w", err)
			}
			es = auditstore.IssuedOnly(es, func(e *rawEntry) int64 { return e.id }, highest, known)
			fresh = es
		}
		found = append(found, es...)
	}
	slices.SortFunc(found, func(a, b *rawEntry) int { return cmp.Compare(a.id, b.id) })
	found = slices.CompactFunc(found, func(a, b *rawEntry) bool { return a.id == b.id })
	hr := &hashReader{db: q.tx, d: q.d, ctx: ctx, overlay: map[int64]tlog.Hash{}}
	var hashRows, leafRows [][]any
	for _, e := range found {
		data, err := leafData(s.d, e)
		if err != nil {
			return res, err
		}
		hashes, err := tlog.StoredHashes(size, data, hr)
		if err != nil {
			return res, fmt.Errorf("auditseal: hash leaf %d: %w", size, err)
		}
		base := tlog.StoredHashIndex(0, size)
		for i, h := range hashes {
			hr.overlay[base+int64(i)] = h
			hashRows = append(hashRows, []any{base + int64(i), h[:]})
		}
		leaf := LeafHash(data)
		leafRows = append(leafRows, []any{size, e.id, leaf[:]})
		size++
	}
	if err := q.insertRows(ctx, hashesTable, "idx, hash", hashRows); err != nil {
		return res, err
	}
	if err := q.insertRows(ctx, leavesTable, "leaf_index, entry_id, leaf_hash", leafRows); err != nil {
		return res, err
	}
	// The gaps after this round: what is still missing of the old ones,
	// and the new ones between the new entries.
	ids := make([]int64, len(found))
	for i, e := range found {
		ids[i] = e.id
	}
	newHi := hi
	if len(fresh) > 0 {
		newHi = fresh[len(fresh)-1].id
	}
	gaps = follow.Next(gaps, ids, hi, newHi, now, s.SweepFor)
	next = follow.Position(gaps, newHi, now, s.GapWait)
	if err := q.setNext(ctx, next, encodeState(size, gaps)); err != nil {
		return res, err
	}
	// The prune records committed since the last checkpoint (flushes
	// record theirs under this round's lock), chained on the signed ones.
	prunes := signedPrunes
	if size > 0 {
		if !prunes.ok {
			// The first checkpoint to sign them: the marks of earlier
			// flushes, which recorded none, are recorded first.
			if err := q.adoptPrunes(ctx); err != nil {
				return res, err
			}
		}
		recs, err := readPrunes(ctx, q.tx, q.d, prunes.seq)
		if err != nil {
			return res, err
		}
		for _, r := range recs {
			prunes.hash, prunes.seq = r.chain(prunes.hash), r.seq
		}
		prunes.ok = true
	}
	var signed []byte
	if len(found) > 0 || size > 0 && (next > signedNext || prunes != signedPrunes) {
		// A new tree, a position moved past gaps given up, or new prune
		// records: signed, so that no one can move the position back or
		// alter what was pruned.
		if signed, err = q.checkpoint(ctx, hr, size, next, prunes, s.origin, s.signer, len(found) == 0); err != nil {
			return res, err
		}
	}
	if err := tx.Commit(); err != nil {
		return res, fmt.Errorf("auditseal: commit: %w", err)
	}
	s.seen.size, s.seen.next, s.seen.prunes = size, signedNext, signedPrunes
	if signed != nil {
		s.seen.next, s.seen.prunes = next, prunes
	}
	res = RoundResult{Sealed: len(found), Size: size, Next: next, Signed: signed != nil}
	to := s.missed
	switch {
	case signed != nil:
		to, s.missedSize, s.missedNote = s.Witnesses, size, signed
	case !s.started && latest != nil:
		// A sealer's first round that signs nothing new sends the latest
		// checkpoint: one a witness missed before this sealer started (a
		// failed seal --once, a restart) reaches it while the log is quiet.
		// Not to a witness that holds it: each quiet seal --once from cron
		// stored it again in a NATS stream, past its duplicate window.
		to, s.missedSize, s.missedNote = nil, size, latest
		for _, w := range s.Witnesses {
			if h, ok := w.(Holder); ok {
				if held, err := h.Holds(ctx, latest); err == nil && held {
					continue
				}
			}
			to = append(to, w)
		}
	}
	s.started = true
	var errs []error
	var still []Witness
	for i, w := range to {
		// A witness that panics (Run goes on) missed it, and so did those
		// after it.
		s.missed = append(still[:len(still):len(still)], to[i:]...)
		if err := w.Witness(ctx, s.missedSize, s.missedNote); err != nil {
			still = append(still, w)
			errs = append(errs, fmt.Errorf("auditseal: witness checkpoint %d: %w", s.missedSize, err))
		}
	}
	s.missed = still
	// The round is committed: its result stands beside the error.
	return res, errors.Join(errs...)
}

// Run seals a round every interval until ctx ends, and reports each
// round's error (a panic of its signer's or a witness's too) to onError
// (nil: they are returned).
func (s *Sealer) Run(ctx context.Context, interval time.Duration, onError func(error)) error {
	if interval <= 0 {
		return errors.New("auditseal: Run needs a positive interval")
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		res, err := s.safeRound(ctx)
		if err != nil && ctx.Err() != nil {
			return ctx.Err()
		}
		if s.Logger != nil {
			if err != nil {
				s.Logger.Error("auditlog seal: round failed", "err", err)
			}
			if res.Sealed > 0 {
				s.Logger.Debug("auditlog seal: sealed", "entries", res.Sealed, "size", res.Size, "next", res.Next)
			}
		}
		if err != nil {
			if onError == nil {
				return err
			}
			onError(err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// safeRound is a Round whose panic (the signer's, a witness's) is a
// failed round: Run goes on, as after any failed round.
func (s *Sealer) safeRound(ctx context.Context) (res RoundResult, err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("auditseal: the round panicked: %v", v)
		}
	}()
	return s.Round(ctx)
}

func (s *Sealer) batch() int {
	if s.Batch <= 0 {
		return DefaultBatch
	}
	return s.Batch
}

// queries are the sealer's statements in one transaction.
type queries struct {
	tx *sql.Tx
	d  auditstore.Dialect
}

func (q queries) ph(n int) string { return q.d.Placeholder(n) }

// lockState takes the sealer's lock (the state row, written first: a row
// lock on PostgreSQL and MariaDB, the write lock on SQLite) and returns
// its position and its saved gaps.
func (q queries) lockState(ctx context.Context) (int64, sql.NullString, error) {
	var saved sql.NullString
	res, err := q.tx.ExecContext(ctx, auditstore.SealLockSQL)
	if err != nil {
		return 0, saved, fmt.Errorf("auditseal: lock the sealer's state (is the database migrated?): %w", err)
	}
	// A locking read: the latest row, which MySQL's snapshot of this
	// transaction may predate, locked where the UPDATE found none to lock.
	lock := " FOR UPDATE"
	if q.d == auditstore.SQLite {
		lock = "" // the UPDATE took the write lock
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		// MySQL counts only changed rows: read before inserting. On
		// PostgreSQL no row was there for the UPDATE, but another
		// sealer's first round may have committed one since: the read
		// locks it.
		var next int64
		err := q.tx.QueryRowContext(ctx, readState+lock).Scan(&next, &saved)
		switch {
		case err == nil:
			return next, saved, nil
		case !errors.Is(err, sql.ErrNoRows):
			return 0, saved, fmt.Errorf("auditseal: read the sealer's state (is the database migrated to version 5?): %w", err)
		}
		// The first round: create the row, where another sealer's first
		// round may be creating it too, then lock it.
		insert := "INSERT INTO " + stateTable + " (id, next_id) VALUES (1, 0) ON CONFLICT DO NOTHING"
		switch q.d {
		case auditstore.MySQL:
			insert = "INSERT IGNORE INTO " + stateTable + " (id, next_id) VALUES (1, 0)"
		case auditstore.SQLite:
			insert = "INSERT OR IGNORE INTO " + stateTable + " (id, next_id) VALUES (1, 0)"
		}
		if _, err := q.tx.ExecContext(ctx, insert); err != nil {
			return 0, saved, fmt.Errorf("auditseal: create the sealer's state: %w", err)
		}
		if err := q.tx.QueryRowContext(ctx, readState+lock).Scan(&next, &saved); err != nil {
			return 0, saved, fmt.Errorf("auditseal: read the sealer's state (is the database migrated to version 5?): %w", err)
		}
		return next, saved, nil
	}
	var next int64
	if err := q.tx.QueryRowContext(ctx, readState).Scan(&next, &saved); err != nil {
		return 0, saved, fmt.Errorf("auditseal: read the sealer's state (is the database migrated to version 5?): %w", err)
	}
	return next, saved, nil
}

// readState reads the sealer's position and its saved gaps.
const readState = "SELECT next_id, gaps FROM " + stateTable + " WHERE id = 1"

// setNext saves the sealer's position and its gaps.
func (q queries) setNext(ctx context.Context, next int64, gaps string) error {
	if _, err := q.tx.ExecContext(ctx, "UPDATE "+stateTable+" SET next_id = "+q.ph(1)+", gaps = "+q.ph(2)+" WHERE id = 1", next, gaps); err != nil {
		return fmt.Errorf("auditseal: save the sealer's position: %w", err)
	}
	return nil
}

// encodeState is the gaps a round saves, with the tree's size after it:
// {"size":N,"gaps":[[from,to,first seen (Unix ms)],…]}.
func encodeState(size int64, gaps []follow.Gap) string {
	return `{"size":` + strconv.FormatInt(size, 10) + `,"gaps":` + follow.Encode(gaps) + `}`
}

// decodeState reads the gaps saved with a tree of size leaves. It reports
// false where there are none to use: nothing saved, or saved with another
// tree (by a sealer that saves no gaps, whose leaves they do not account
// for). The row is not signed: a gap is cut at hi, the highest id the
// tree accounts for (a gap above it would raise the position past entries
// not sealed yet), and one first seen after now counts as seen now, so
// that it cannot hold the position for ever.
func decodeState(saved sql.NullString, size, hi int64, now time.Time) ([]follow.Gap, bool, error) {
	if !saved.Valid {
		return nil, false, nil
	}
	var st struct {
		Size *int64
		Gaps json.RawMessage
	}
	err := json.Unmarshal([]byte(saved.String), &st)
	var gaps []follow.Gap
	if err == nil && st.Size == nil {
		err = errors.New("no tree size")
	}
	if err == nil {
		gaps, err = follow.Decode(string(st.Gaps))
	}
	if err != nil {
		return nil, false, fmt.Errorf("auditseal: the sealer's saved gaps (%s.gaps) are unreadable, set them to NULL to rebuild them from the leaves: %w", stateTable, err)
	}
	if *st.Size != size {
		return nil, false, nil
	}
	kept := gaps[:0]
	for _, g := range gaps {
		if g.From > hi {
			break
		}
		g.To = min(g.To, hi)
		if g.Seen.After(now) {
			g.Seen = now
		}
		kept = append(kept, g)
	}
	return kept, true, nil
}

// treeSize returns the number of leaves and the highest entry id sealed
// (0 for none: entry ids start at 1, as the relay's start at 0; from -1,
// a first round saw a gap at id 0, which held the signed position at 0
// for GapWait).
func (q queries) treeSize(ctx context.Context) (size, hi int64, err error) {
	err = q.tx.QueryRowContext(ctx, "SELECT COALESCE(MAX(leaf_index), -1) + 1, COALESCE(MAX(entry_id), 0) FROM "+leavesTable).Scan(&size, &hi)
	if err != nil {
		return 0, 0, fmt.Errorf("auditseal: read the tree's size: %w", err)
	}
	return size, hi, nil
}

// gapsBetween returns the ids between from and to that no leaf names, as
// gaps first seen now: the sealer's gaps when it starts.
func (q queries) gapsBetween(ctx context.Context, from, to int64, now time.Time) ([]follow.Gap, error) {
	gaps := []follow.Gap{}
	if from > to {
		return gaps, nil
	}
	rows, err := q.tx.QueryContext(ctx, "SELECT entry_id FROM "+leavesTable+" WHERE entry_id BETWEEN "+q.ph(1)+" AND "+q.ph(2)+" ORDER BY entry_id", from, to)
	if err != nil {
		return nil, fmt.Errorf("auditseal: read sealed ids: %w", err)
	}
	defer rows.Close()
	cur := from
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		if id > cur {
			gaps = append(gaps, follow.Gap{From: cur, To: id - 1, Seen: now})
		}
		cur = id + 1
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if cur <= to {
		gaps = append(gaps, follow.Gap{From: cur, To: to, Seen: now})
	}
	return gaps, nil
}

// entries reads the committed entries that match cond, in id order, at
// most limit (0: all).
func (q queries) entries(ctx context.Context, cond string, limit int, args ...any) ([]*rawEntry, error) {
	sqlText := "SELECT " + auditstore.ReadColumns(q.d, "") + " FROM " + auditstore.Table + " WHERE " + cond + " ORDER BY id"
	if limit > 0 {
		sqlText += fmt.Sprintf(" LIMIT %d", limit)
	}
	rows, err := q.tx.QueryContext(ctx, sqlText, args...)
	if err != nil {
		return nil, fmt.Errorf("auditseal: read entries: %w", err)
	}
	defer rows.Close()
	var out []*rawEntry
	for rows.Next() {
		e := &rawEntry{}
		if err := rows.Scan(e.dest()...); err != nil {
			return nil, fmt.Errorf("auditseal: read entries: %w", err)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// insertRows inserts rows into table, many to a statement.
func (q queries) insertRows(ctx context.Context, table, cols string, rows [][]any) error {
	const perStatement = 500
	for start := 0; start < len(rows); start += perStatement {
		chunk := rows[start:min(start+perStatement, len(rows))]
		var b strings.Builder
		b.WriteString("INSERT INTO " + table + " (" + cols + ") VALUES ")
		var args []any
		for i, r := range chunk {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteByte('(')
			for j, v := range r {
				if j > 0 {
					b.WriteString(", ")
				}
				args = append(args, v)
				b.WriteString(q.ph(len(args)))
			}
			b.WriteByte(')')
		}
		if _, err := q.tx.ExecContext(ctx, b.String(), args...); err != nil {
			return fmt.Errorf("auditseal: insert into %s: %w", table, err)
		}
	}
	return nil
}

// ErrAltered is returned by a round that finds the stored tree is not the
// one its latest checkpoint signs: the sealer does not extend (and sign) a
// tree someone changed. Run Verify.
var ErrAltered = errors.New("auditseal: the sealed log was altered; the sealer stops until it is repaired (run auditlog verify)")

// ErrOtherKey is returned by a round whose latest checkpoint is signed by
// another key than the sealer's, or names another log: the sealer was
// started with the wrong key or origin (or someone wrote a checkpoint of
// their own). It does not extend the tree; Verify, with the public key
// that signed the log, says whether the log is intact.
var ErrOtherKey = errors.New("auditseal: the sealed log is signed by another key or origin; the sealer stops (start it with the key and origin that sealed this log, and run auditlog verify with that key's public key)")

// checkTree checks, before a round extends the tree, that its latest
// checkpoint covers exactly the size leaves and is the note this signer
// makes over the stored tree's root (Ed25519 signatures are deterministic,
// so signing again must give the same bytes).
//
// It returns the sealer's position the checkpoint signs (0 for none),
// what it signs of the prune records, and the checkpoint (nil for none).
func (q queries) checkTree(ctx context.Context, size int64, origin string, signer note.Signer) (int64, signedPrunes, []byte, error) {
	var cpSize int64
	var stored string
	err := q.tx.QueryRowContext(ctx, "SELECT size, note FROM "+checkpointsTable+" ORDER BY size DESC LIMIT 1").Scan(&cpSize, &stored)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		if size > 0 {
			return 0, signedPrunes{}, nil, fmt.Errorf("%w: it has %d leaves and no checkpoint", ErrAltered, size)
		}
		return 0, signedPrunes{}, nil, nil
	case err != nil:
		return 0, signedPrunes{}, nil, fmt.Errorf("auditseal: read the latest checkpoint: %w", err)
	case cpSize != size:
		return 0, signedPrunes{}, nil, fmt.Errorf("%w: the latest checkpoint covers %d leaves, the log has %d", ErrAltered, cpSize, size)
	}
	hr := &hashReader{db: q.tx, d: q.d, ctx: ctx, overlay: map[int64]tlog.Hash{}}
	root, err := tlog.TreeHash(size, hr)
	if err != nil {
		return 0, signedPrunes{}, nil, fmt.Errorf("%w: %v", ErrAltered, err)
	}
	end := strings.Index(stored, "\n\n")
	if end < 0 {
		return 0, signedPrunes{}, nil, fmt.Errorf("%w: the checkpoint of %d leaves is not a signed note", ErrAltered, size)
	}
	text := stored[:end+1]
	var c log.Checkpoint
	ext, err := c.Unmarshal([]byte(text))
	switch {
	case err == nil && c.Origin != origin:
		return 0, signedPrunes{}, nil, fmt.Errorf("%w: the checkpoint of %d leaves names the log %q, this sealer's origin is %q", ErrOtherKey, size, c.Origin, origin)
	case !signedBy(stored[end+2:], signer):
		return 0, signedPrunes{}, nil, fmt.Errorf("%w: the checkpoint of %d leaves is signed by %s, not by this sealer's key %q", ErrOtherKey, size, signerNames(stored[end+2:]), signer.Name())
	case err != nil || int64(c.Size) != size || !bytes.Equal(c.Hash, root[:]):
		return 0, signedPrunes{}, nil, fmt.Errorf("%w: the checkpoint of %d leaves does not sign the stored tree", ErrAltered, size)
	}
	signed, err := note.Sign(&note.Note{Text: text}, signer)
	if err != nil {
		return 0, signedPrunes{}, nil, fmt.Errorf("auditseal: sign checkpoint: %w", err)
	}
	if string(signed) != stored {
		return 0, signedPrunes{}, nil, fmt.Errorf("%w: the checkpoint of %d leaves is not one this key signed", ErrAltered, size)
	}
	return signedPosition(ext), parsePrunes(ext), []byte(stored), nil
}

// signedBy reports whether the signature lines of a note (what follows
// its blank line) hold one that names signer's key: its name and key hash.
// Whether the signature is right is checked by signing again.
func signedBy(sigs string, signer note.Signer) bool {
	for _, l := range strings.Split(sigs, "\n") {
		name, hash, ok := signatureKey(l)
		if ok && name == signer.Name() && hash == signer.KeyHash() {
			return true
		}
	}
	return false
}

// signatureKey reads the key name and hash of a note's signature line
// ("— name base64(hash ‖ signature)").
func signatureKey(line string) (string, uint32, bool) {
	rest, ok := strings.CutPrefix(line, "— ")
	if !ok {
		return "", 0, false
	}
	name, b64, ok := strings.Cut(rest, " ")
	if !ok {
		return "", 0, false
	}
	sig, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(sig) < 5 {
		return "", 0, false
	}
	return name, binary.BigEndian.Uint32(sig), true
}

// signerNames lists the keys that signed a note, for an error.
func signerNames(sigs string) string {
	var names []string
	for _, l := range strings.Split(sigs, "\n") {
		if name, hash, ok := signatureKey(l); ok {
			names = append(names, fmt.Sprintf("%q (key hash %08x)", name, hash))
		}
	}
	if len(names) == 0 {
		return "no key"
	}
	return strings.Join(names, ", ")
}

// positionLine is the checkpoint's extension line that signs the sealer's
// position: the lowest entry id it could not account for when it signed.
const positionLine = "auditlog-next "

// timeLine is the checkpoint's extension line that signs when it was
// signed (the clock of the sealer's host, RFC 3339): an entry it covers
// dated later was dated ahead (Verify).
const timeLine = "auditlog-time "

// signedTime reads the time a checkpoint was signed from its extension
// lines; zero for a checkpoint without one (signed before it was added).
func signedTime(ext []byte) time.Time {
	for _, l := range strings.Split(string(ext), "\n") {
		if v, ok := strings.CutPrefix(l, timeLine); ok {
			if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
				return t
			}
		}
	}
	return time.Time{}
}

// signedPosition reads the position from a checkpoint's extension lines.
func signedPosition(ext []byte) int64 {
	for _, l := range strings.Split(string(ext), "\n") {
		if v, ok := strings.CutPrefix(l, positionLine); ok {
			if n, err := strconv.ParseInt(v, 10, 64); err == nil && n >= 0 {
				return n
			}
		}
	}
	return 0
}

// checkpoint signs and stores the checkpoint of the tree of size leaves
// with the sealer's position next (again: in place of the stored one of
// that size), and returns it.
func (q queries) checkpoint(ctx context.Context, hr *hashReader, size, next int64, prunes signedPrunes, origin string, signer note.Signer, again bool) ([]byte, error) {
	root, err := tlog.TreeHash(size, hr)
	if err != nil {
		return nil, fmt.Errorf("auditseal: tree hash: %w", err)
	}
	signedAt := time.Now()
	body := log.Checkpoint{Origin: origin, Size: uint64(size), Hash: root[:]}.Marshal()
	body = append(body, positionLine+strconv.FormatInt(next, 10)+"\n"...)
	body = append(body, prunes.line()...)
	body = append(body, timeLine+signedAt.UTC().Format(time.RFC3339Nano)+"\n"...)
	signed, err := note.Sign(&note.Note{Text: string(body)}, signer)
	if err != nil {
		return nil, fmt.Errorf("auditseal: sign checkpoint: %w", err)
	}
	stmt := "INSERT INTO " + checkpointsTable + " (note, signed_at, size) VALUES (" + q.ph(1) + ", " + q.ph(2) + ", " + q.ph(3) + ")"
	if again {
		// The same tree signed again with a new position.
		stmt = "UPDATE " + checkpointsTable + " SET note = " + q.ph(1) + ", signed_at = " + q.ph(2) + " WHERE size = " + q.ph(3)
	}
	if _, err := q.tx.ExecContext(ctx, stmt, string(signed), signedAt.UnixMicro(), size); err != nil {
		return nil, fmt.Errorf("auditseal: store checkpoint %d: %w", size, err)
	}
	return signed, nil
}

// hashReader reads stored hashes: a round's new ones from memory, the rest
// from the database.
type hashReader struct {
	db      querier // the round's transaction, or the database
	d       auditstore.Dialect
	ctx     context.Context
	overlay map[int64]tlog.Hash // nil: none
}

func (r *hashReader) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	var missing []int64
	for i, idx := range indexes {
		if h, ok := r.overlay[idx]; ok {
			out[i] = h
			continue
		}
		missing = append(missing, idx)
	}
	if len(missing) == 0 {
		return out, nil
	}
	got, err := readHashes(r.ctx, r.db, r.d, missing)
	if err != nil {
		return nil, err
	}
	for i, idx := range indexes {
		if _, ok := r.overlay[idx]; ok {
			continue
		}
		h, ok := got[idx]
		if !ok {
			return nil, fmt.Errorf("%w: %d", errHashMissing, idx)
		}
		out[i] = h
	}
	return out, nil
}

// errHashMissing is the error of a read of a stored hash that is not there.
var errHashMissing = errors.New("auditseal: a stored tree hash is missing")

// querier is what reads hashes: a transaction or the database.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// readHashes reads stored hashes by index.
func readHashes(ctx context.Context, db querier, d auditstore.Dialect, indexes []int64) (map[int64]tlog.Hash, error) {
	q := queries{d: d}
	var b strings.Builder
	args := make([]any, len(indexes))
	for i, idx := range indexes {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(q.ph(i + 1))
		args[i] = idx
	}
	rows, err := db.QueryContext(ctx, "SELECT idx, hash FROM "+hashesTable+" WHERE idx IN ("+b.String()+")", args...)
	if err != nil {
		return nil, fmt.Errorf("auditseal: read stored hashes: %w", err)
	}
	defer rows.Close()
	out := make(map[int64]tlog.Hash, len(indexes))
	for rows.Next() {
		var idx int64
		var raw []byte
		if err := rows.Scan(&idx, &raw); err != nil {
			return nil, err
		}
		if len(raw) != tlog.HashSize {
			return nil, fmt.Errorf("auditseal: stored hash %d has %d bytes", idx, len(raw))
		}
		out[idx] = tlog.Hash(raw)
	}
	return out, rows.Err()
}
