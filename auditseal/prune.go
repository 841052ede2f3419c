package auditseal

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"

	"github.com/go-auditlog/auditlog/auditstore"
)

// A flush marks the leaves of the sealed entries it deletes as pruned, and
// records, in the same transaction (under the sealer's lock), when, by
// what, how many and which leaves it marked (auditstore.RecordPrune: a
// digest of their indexes, the record's seq on each leaf). Each round
// chains the records committed since the last checkpoint into a hash that
// the checkpoint signs, so that Verify can check the marks against signed
// records, leaf by leaf: a leaf marked pruned by hand, under a flush of
// its own or an earlier flush's, does not pass for a flush's.

const prunesTable = auditstore.SealPrunesTable

// prunesLine is the checkpoint's extension line that signs the prune
// records: the highest record's seq, and the hash chained over every
// record up to it ("auditlog-prunes 0 00…" before the first).
const prunesLine = "auditlog-prunes "

// pruneRecord is one row of the prune records.
type pruneRecord struct {
	seq, at int64
	by      string
	leaves  int64
	digest  []byte // auditstore.PruneDigest of the leaves it marks
}

// key groups marks and records by flush: its time and description.
func (r pruneRecord) key() string { return strconv.FormatInt(r.at, 10) + "\x00" + r.by }

// chain is the hash of the records up to r, from prev, the hash of those
// before it: SHA-256 over prev, a version, and r's fields, each integer in
// 8 bytes, the description and the digest each after its length.
func (r pruneRecord) chain(prev [32]byte) [32]byte {
	b := make([]byte, 0, 128+len(r.by))
	b = append(b, prev[:]...)
	b = append(b, "auditlog-prune/1"...)
	for _, n := range []int64{r.seq, r.at, r.leaves, int64(len(r.by))} {
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	b = append(b, r.by...)
	b = binary.BigEndian.AppendUint64(b, uint64(len(r.digest)))
	b = append(b, r.digest...)
	return sha256.Sum256(b)
}

// signedPrunes is what a checkpoint's extension lines sign of the prune
// records; ok is false for a checkpoint that signs none (one made before
// version 5).
type signedPrunes struct {
	seq  int64
	hash [32]byte
	ok   bool
}

func (p signedPrunes) line() string {
	return prunesLine + strconv.FormatInt(p.seq, 10) + " " + hex.EncodeToString(p.hash[:]) + "\n"
}

func parsePrunes(ext []byte) signedPrunes {
	for _, l := range strings.Split(string(ext), "\n") {
		v, ok := strings.CutPrefix(l, prunesLine)
		if !ok {
			continue
		}
		seqText, hashText, _ := strings.Cut(v, " ")
		seq, err := strconv.ParseInt(seqText, 10, 64)
		h, herr := hex.DecodeString(hashText)
		if err != nil || herr != nil || seq < 0 || len(h) != 32 {
			continue
		}
		var p signedPrunes
		p.seq, p.ok = seq, true
		copy(p.hash[:], h)
		return p
	}
	return signedPrunes{}
}

// readPrunes reads the prune records after seq, in order.
func readPrunes(ctx context.Context, db querier, d auditstore.Dialect, after int64) ([]pruneRecord, error) {
	rows, err := db.QueryContext(ctx, "SELECT seq, pruned_at, pruned_by, leaves, digest FROM "+prunesTable+" WHERE seq > "+d.Placeholder(1)+" ORDER BY seq", after)
	if err != nil {
		return nil, fmt.Errorf("auditseal: read the flushes' prune records (is the database migrated to version 5?): %w", err)
	}
	defer rows.Close()
	var out []pruneRecord
	for rows.Next() {
		var r pruneRecord
		if err := rows.Scan(&r.seq, &r.at, &r.by, &r.leaves, &r.digest); err != nil {
			return nil, fmt.Errorf("auditseal: read the flushes' prune records: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// adoptPrunes records the leaves marked pruned that no record names, by
// flush: the marks of flushes made before version 5, which recorded none.
// A round runs it where the latest checkpoint signs no prune records, so
// once, before its first checkpoint that does.
func (q queries) adoptPrunes(ctx context.Context) error {
	rows, err := q.tx.QueryContext(ctx, "SELECT leaf_index, pruned_at, pruned_by FROM "+leavesTable+" WHERE pruned_at IS NOT NULL AND prune_seq IS NULL ORDER BY leaf_index")
	if err != nil {
		return fmt.Errorf("auditseal: read pruned leaves (is the database migrated to version 5?): %w", err)
	}
	defer rows.Close()
	type flush struct {
		at     int64
		by     string
		leaves []int64
	}
	var flushes []*flush
	byKey := map[string]*flush{}
	for rows.Next() {
		var i, at int64
		var by sql.NullString
		if err := rows.Scan(&i, &at, &by); err != nil {
			return fmt.Errorf("auditseal: read pruned leaves: %w", err)
		}
		k := pruneRecord{at: at, by: by.String}.key()
		f := byKey[k]
		if f == nil {
			f = &flush{at: at, by: by.String}
			byKey[k] = f
			flushes = append(flushes, f)
		}
		f.leaves = append(f.leaves, i)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("auditseal: read pruned leaves: %w", err)
	}
	rows.Close()
	for _, f := range flushes {
		if err := auditstore.RecordPrune(ctx, q.tx, q.d, f.at, f.by, f.leaves); err != nil {
			return fmt.Errorf("auditseal: record earlier flushes: %w", err)
		}
	}
	return nil
}
