package auditseal

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/transparency-dev/formats/log"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/go-auditlog/auditlog/auditstore"
)

// Proof proves that one entry is in the log: its leaf (the entry, as
// leafData encodes it: a JSON array, kept as text because its exact bytes
// are hashed), the leaf's index, the hashes that lead from it to the root
// of a checkpoint's tree, and that signed checkpoint. It needs nothing
// else to be checked: hand it, with the public key, to an auditor.
type Proof struct {
	Leaf       string   `json:"leaf"`
	Index      int64    `json:"index"`
	Size       int64    `json:"size"`
	Hashes     [][]byte `json:"hashes"`
	Checkpoint string   `json:"checkpoint"`
}

// ErrNotSealed is returned by Prove for an entry no checkpoint covers yet.
var ErrNotSealed = errors.New("auditseal: the entry is not sealed in a checkpoint yet")

// Prove returns the inclusion proof of entry id against the latest
// checkpoint.
func Prove(ctx context.Context, db *sql.DB, d auditstore.Dialect, id int64) (Proof, error) {
	q := queries{d: d}
	var p Proof
	err := db.QueryRowContext(ctx, "SELECT leaf_index FROM "+leavesTable+" WHERE entry_id = "+q.ph(1), id).Scan(&p.Index)
	if errors.Is(err, sql.ErrNoRows) {
		var one int
		switch err := db.QueryRowContext(ctx, "SELECT 1 FROM "+auditstore.Table+" WHERE id = "+q.ph(1), id).Scan(&one); {
		case errors.Is(err, sql.ErrNoRows):
			return p, fmt.Errorf("auditseal: there is no entry %d: %w", id, auditstore.ErrNotFound)
		case err != nil:
			return p, fmt.Errorf("auditseal: read entry %d: %w", id, err)
		}
		return p, fmt.Errorf("%w: no leaf names entry %d", ErrNotSealed, id)
	}
	if err != nil {
		return p, fmt.Errorf("auditseal: find entry %d's leaf: %w", id, err)
	}
	// The latest checkpoint that is one (a row that does not parse as a
	// checkpoint of its size is passed over; Verify reports it).
	rows, err := db.QueryContext(ctx, "SELECT size, note FROM "+checkpointsTable+" ORDER BY size DESC LIMIT 10")
	if err != nil {
		return p, fmt.Errorf("auditseal: read the latest checkpoint: %w", err)
	}
	found := false
	for rows.Next() && !found {
		if err := rows.Scan(&p.Size, &p.Checkpoint); err != nil {
			rows.Close()
			return p, err
		}
		var c log.Checkpoint
		_, err := c.Unmarshal([]byte(p.Checkpoint))
		found = err == nil && int64(c.Size) == p.Size
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return p, fmt.Errorf("auditseal: read the latest checkpoint: %w", err)
	}
	if !found || p.Index >= p.Size {
		return p, fmt.Errorf("%w: entry %d is leaf %d, the latest checkpoint covers %d", ErrNotSealed, id, p.Index, p.Size)
	}
	var e rawEntry
	err = db.QueryRowContext(ctx, "SELECT "+auditstore.ReadColumns(d, "")+" FROM "+auditstore.Table+" WHERE id = "+q.ph(1), id).Scan(e.dest()...)
	if errors.Is(err, sql.ErrNoRows) {
		return p, fmt.Errorf("auditseal: entry %d (leaf %d) is no longer in the table (flushed, or deleted): %w", id, p.Index, auditstore.ErrNotFound)
	}
	if err != nil {
		return p, fmt.Errorf("auditseal: read entry %d: %w", id, err)
	}
	leaf, err := leafData(d, &e)
	if err != nil {
		return p, err
	}
	p.Leaf = string(leaf)
	r := &hashReader{db: db, d: d, ctx: ctx}
	hashes, err := tlog.ProveRecord(p.Size, p.Index, r)
	if errors.Is(err, errHashMissing) {
		return p, fmt.Errorf("auditseal: prove leaf %d: the stored tree hashes are incomplete (verify the log): %w", p.Index, err)
	}
	if err != nil {
		return p, fmt.Errorf("auditseal: prove leaf %d: %w", p.Index, err)
	}
	for _, h := range hashes {
		p.Hashes = append(p.Hashes, h[:])
	}
	// The stored entry must be the one sealed, or the proof proves nothing.
	if err := CheckProof(p, "", nil); err != nil {
		// Which is wrong: the entry, or the stored path? The leaf's stored
		// hash leads by that path to the root, or the path was altered.
		var c log.Checkpoint
		if _, cerr := c.Unmarshal([]byte(p.Checkpoint)); cerr == nil && len(c.Hash) == tlog.HashSize && !storedPathSigned(r, p.Size, tlog.Hash(c.Hash), p.Index) {
			return p, fmt.Errorf("auditseal: prove entry %d: the stored tree hashes do not lead from its leaf to the checkpoint's root (verify the log): %w", id, err)
		}
		return p, fmt.Errorf("auditseal: entry %d does not match its sealed leaf (verify the log): %w", id, err)
	}
	return p, nil
}

// CheckProof checks an inclusion proof with no database: the checkpoint's
// signature (by verifier, for the log named origin), and that the leaf,
// at its index, leads to the checkpoint's root. With a nil verifier only
// the path to the root is checked.
func CheckProof(p Proof, origin string, verifier note.Verifier) error {
	var root []byte
	if verifier != nil {
		c, _, _, err := log.ParseCheckpoint([]byte(p.Checkpoint), origin, verifier)
		if err != nil {
			return fmt.Errorf("auditseal: the proof's checkpoint: %w", err)
		}
		if int64(c.Size) != p.Size {
			return fmt.Errorf("auditseal: the proof is for a tree of %d leaves, its checkpoint signs %d", p.Size, c.Size)
		}
		root = c.Hash
	} else {
		var c log.Checkpoint
		if _, err := c.Unmarshal([]byte(p.Checkpoint)); err != nil {
			return fmt.Errorf("auditseal: the proof's checkpoint: %w", err)
		}
		root = c.Hash
	}
	if len(root) != tlog.HashSize {
		return fmt.Errorf("auditseal: the checkpoint's root has %d bytes", len(root))
	}
	proof := make(tlog.RecordProof, len(p.Hashes))
	for i, h := range p.Hashes {
		if len(h) != tlog.HashSize {
			return fmt.Errorf("auditseal: proof hash %d has %d bytes", i, len(h))
		}
		proof[i] = tlog.Hash(h)
	}
	if err := tlog.CheckRecord(proof, p.Size, tlog.Hash(root), p.Index, LeafHash([]byte(p.Leaf))); err != nil {
		return fmt.Errorf("auditseal: the entry is not leaf %d of the checkpoint's tree: %w", p.Index, err)
	}
	return nil
}
