package auditseal

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-auditlog/auditlog/auditstore"
)

// Reader reads the sealed log's state for display (the admin UI): whether
// an entry is sealed and by which checkpoint, and the latest checkpoint.
// It checks nothing; Verify does.
type Reader struct {
	db *sql.DB
	d  auditstore.Dialect
}

// NewReader returns a reader of the sealed log in db.
func NewReader(db *sql.DB, d auditstore.Dialect) *Reader { return &Reader{db: db, d: d} }

// EntryStatus says where an entry stands in the sealed log.
type EntryStatus struct {
	Sealed bool  // a leaf names the entry
	Leaf   int64 // its leaf index
	// Checkpoint is the size of the first checkpoint that covers the leaf,
	// signed at SignedAt; 0 while none does.
	Checkpoint int64
	SignedAt   time.Time
}

// Checkpoint is a stored checkpoint.
type Checkpoint struct {
	Size     int64
	SignedAt time.Time
	Note     string // the signed note
}

// EntryStatus returns entry id's place in the sealed log.
func (r *Reader) EntryStatus(ctx context.Context, id int64) (EntryStatus, error) {
	q := queries{d: r.d}
	var st EntryStatus
	err := r.db.QueryRowContext(ctx, "SELECT leaf_index FROM "+leavesTable+" WHERE entry_id = "+q.ph(1), id).Scan(&st.Leaf)
	if errors.Is(err, sql.ErrNoRows) {
		return st, nil
	}
	if err != nil {
		return st, fmt.Errorf("auditseal: entry %d's leaf: %w", id, err)
	}
	st.Sealed = true
	var at int64
	err = r.db.QueryRowContext(ctx, "SELECT size, signed_at FROM "+checkpointsTable+" WHERE size > "+q.ph(1)+" ORDER BY size LIMIT 1", st.Leaf).Scan(&st.Checkpoint, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return st, nil
	}
	if err != nil {
		return st, fmt.Errorf("auditseal: the checkpoint of leaf %d: %w", st.Leaf, err)
	}
	st.SignedAt = time.UnixMicro(at).UTC()
	return st, nil
}

// Latest returns the latest checkpoint, and false when there is none.
func (r *Reader) Latest(ctx context.Context) (Checkpoint, bool, error) {
	var c Checkpoint
	var at int64
	err := r.db.QueryRowContext(ctx, "SELECT size, signed_at, note FROM "+checkpointsTable+" ORDER BY size DESC LIMIT 1").Scan(&c.Size, &at, &c.Note)
	if errors.Is(err, sql.ErrNoRows) {
		return c, false, nil
	}
	if err != nil {
		return c, false, fmt.Errorf("auditseal: the latest checkpoint: %w", err)
	}
	c.SignedAt = time.UnixMicro(at).UTC()
	return c, true, nil
}

// Installed reports whether db has the sealed log's tables (auditstore's
// migration 3).
func Installed(ctx context.Context, db *sql.DB, d auditstore.Dialect) (bool, error) {
	installed, _, err := auditstore.SealState(ctx, db, d)
	return installed, err
}

// Verification is a recorded result of Verify.
type Verification struct {
	At       time.Time
	OK       bool
	Leaves   int64
	Problems int64
	Summary  string // the first problems, or "intact"
}

// Record stores rep as the latest verification, for display (the admin
// UI). What is stored is only what Verify said when it ran: anyone who can
// write to the database can write such a row, so it proves nothing itself.
func Record(ctx context.Context, db *sql.DB, d auditstore.Dialect, rep Report) error {
	q := queries{d: d}
	summary := "intact"
	if !rep.OK() {
		var lines []string
		for i, p := range rep.Problems {
			if i == 5 {
				lines = append(lines, fmt.Sprintf("and %d more", len(rep.Problems)-5))
				break
			}
			lines = append(lines, p.String())
		}
		summary = strings.Join(lines, "\n")
	}
	if len(summary) > 4000 {
		cut := 4000
		for cut > 0 && !utf8.RuneStart(summary[cut]) {
			cut--
		}
		summary = summary[:cut]
	}
	_, err := db.ExecContext(ctx, "INSERT INTO "+auditstore.SealVerificationsTable+" (verified_at, ok, leaves, problems, summary) VALUES ("+
		q.ph(1)+", "+q.ph(2)+", "+q.ph(3)+", "+q.ph(4)+", "+q.ph(5)+")", time.Now().UnixMicro(), rep.OK(), rep.Leaves, int64(len(rep.Problems)), summary)
	if err != nil {
		return fmt.Errorf("auditseal: record the verification: %w", err)
	}
	return nil
}

// LastVerification returns the latest recorded verification, and false
// when there is none.
func (r *Reader) LastVerification(ctx context.Context) (Verification, bool, error) {
	var v Verification
	var at int64
	err := r.db.QueryRowContext(ctx, "SELECT verified_at, ok, leaves, problems, summary FROM "+auditstore.SealVerificationsTable+" ORDER BY id DESC LIMIT 1").
		Scan(&at, &v.OK, &v.Leaves, &v.Problems, &v.Summary)
	if errors.Is(err, sql.ErrNoRows) {
		return v, false, nil
	}
	if err != nil {
		return v, false, fmt.Errorf("auditseal: the last verification: %w", err)
	}
	v.At = time.UnixMicro(at).UTC()
	return v, true, nil
}
