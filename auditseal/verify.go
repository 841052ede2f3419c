package auditseal

import (
	"bytes"
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/go-auditlog/auditlog/auditstore"
)

// ProblemKind says what Verify found wrong.
type ProblemKind string

// The problems Verify reports. Each is evidence of tampering (or of a
// sealer that lost an entry), and makes Report.OK false.
const (
	EntryModified      ProblemKind = "entry modified"       // its leaf no longer matches it
	EntryDeleted       ProblemKind = "entry deleted"        // a leaf names an entry that is gone
	EntryInserted      ProblemKind = "entry not sealed"     // an entry inside the sealed range that no leaf names
	EntryDatedAhead    ProblemKind = "entry dated ahead"    // dated after the checkpoint that first sealed it was signed
	LeafMissing        ProblemKind = "leaf missing"         // the leaves skip an index
	LeafOutOfPlace     ProblemKind = "leaf out of place"    // a leaf at an index no round writes (below 0)
	CheckpointForged   ProblemKind = "checkpoint invalid"   // bad signature, origin or text
	CheckpointMismatch ProblemKind = "checkpoint mismatch"  // the leaves do not give its root
	CheckpointMissing  ProblemKind = "checkpoint missing"   // a trusted checkpoint is beyond the log
	LeavesUnsigned     ProblemKind = "leaves not signed"    // leaves no checkpoint covers (checkpoints deleted)
	PruneUnrecorded    ProblemKind = "pruned unrecorded"    // leaves marked pruned that no flush's record counts
	PruneRecordAltered ProblemKind = "prune record altered" // the flushes' records are not those a checkpoint signs
	EntryUnreadable    ProblemKind = "entry unreadable"     // its time is no time: no writer of the log stores that
	HashesAltered      ProblemKind = "tree hashes altered"  // the stored nodes proofs read are not the leaves' tree
	LeafRewritten      ProblemKind = "leaf hash rewritten"  // a leaf's hash is not the signed tree's, which the stored nodes give
)

// Problem is one thing Verify found wrong.
type Problem struct {
	Kind       ProblemKind
	EntryID    int64 // the entry concerned, or 0
	Leaf       int64 // the leaf concerned, or -1
	Checkpoint int64 // the tree size of the checkpoint concerned, or 0
	Detail     string
}

func (p Problem) String() string {
	var b bytes.Buffer
	b.WriteString(string(p.Kind))
	if p.EntryID != 0 {
		fmt.Fprintf(&b, ": entry %d", p.EntryID)
	}
	if p.Leaf >= 0 {
		fmt.Fprintf(&b, " (leaf %d)", p.Leaf)
	}
	if p.Checkpoint != 0 {
		fmt.Fprintf(&b, ": checkpoint of size %d", p.Checkpoint)
	}
	if p.Detail != "" {
		b.WriteString(": " + p.Detail)
	}
	return b.String()
}

// Report is what Verify found.
type Report struct {
	Leaves      int64 // leaves checked
	Checkpoints int   // checkpoints checked
	Latest      int64 // size of the latest valid checkpoint
	// Trusted counts the valid checkpoints of VerifyOptions.Trusted, and
	// OtherLogs those of other logs (another origin) among them, passed
	// over: a witness may keep several logs' checkpoints.
	Trusted, OtherLogs int
	// Unsealed counts the entries the sealer has not reached yet (above
	// its position), and Oldest is the time of the oldest of them.
	Unsealed int64
	Oldest   time.Time
	// Pruned lists the sealed entries a flush deleted, by flush: their
	// leaves still verify.
	Pruned   []Pruned
	Problems []Problem
}

// Pruned are the leaves whose entries one flush deleted.
type Pruned struct {
	By                  string    // the flush, as it described itself
	At                  time.Time // when
	Leaves              int64
	FirstLeaf, LastLeaf int64
	// Signed reports whether a checkpoint signs the flush's records (a
	// flush after the latest round is not signed yet).
	Signed bool
}

// OK reports whether nothing was found wrong.
func (r Report) OK() bool { return len(r.Problems) == 0 }

// VerifyOptions are Verify's inputs besides the database.
type VerifyOptions struct {
	Origin   string
	Verifier note.Verifier
	// Trusted are checkpoints kept outside the database (a file, a
	// witness): each must be consistent with the leaves, so a log cut back
	// together with its checkpoints table is caught. Those of another
	// origin are passed over (Report.OtherLogs).
	Trusted [][]byte
	// Progress, if set, is called every 10,000 leaves and at the end with
	// the leaves checked and the leaves in the log.
	Progress func(done, total int64)
	// GapWait is the sealer's (default DefaultGapWait): an unsealed entry
	// dated more than GapWait before the newest sealed one cannot be a late
	// commit of a transaction shorter than that, and is reported as
	// inserted.
	GapWait time.Duration
}

// CheckpointOrigin returns the origin a checkpoint names, its first line
// (unchecked: Verify checks its signature).
func CheckpointOrigin(checkpoint []byte) string {
	line, _, _ := bytes.Cut(checkpoint, []byte("\n"))
	// A note with CRLF line ends (a copy edited elsewhere) is still this
	// origin's, and fails its signature check.
	return string(bytes.TrimSuffix(line, []byte("\r")))
}

// otherSigner adds to a checkpoint's error the keys that signed it, where
// none is the verifier's: the public key given is not the sealer's.
func otherSigner(err error, text []byte, v note.Verifier) error {
	_, sigs, ok := strings.Cut(string(text), "\n\n")
	if !ok || v == nil {
		return err
	}
	for _, l := range strings.Split(sigs, "\n") {
		if name, hash, ok := signatureKey(l); ok && name == v.Name() && hash == v.KeyHash() {
			return err
		}
	}
	return fmt.Errorf("%w (it is signed by %s, and the public key given is %q, key hash %08x: not the sealer's?)", err, signerNames(sigs), v.Name(), v.KeyHash())
}

// Verify recomputes every sealed leaf from the entries table and the tree
// from the leaves, and checks every checkpoint: its signature and origin,
// and that the leaves give its root (so each checkpoint is consistent with
// every earlier one). It reads the log once, in leaf order, in memory
// that grows only with the flushes' prune records (a hash state each).
func Verify(ctx context.Context, db *sql.DB, d auditstore.Dialect, o VerifyOptions) (Report, error) {
	rep := Report{}
	type cp struct {
		size int64
		root []byte
		at   time.Time // when it was signed; zero if it does not say
	}
	var cps []cp
	var signedNext int64 // the sealer's position the latest checkpoint signs
	type signedAt struct {
		size   int64
		prunes signedPrunes
	}
	var pruneSigs []signedAt // what each valid checkpoint signs of the prune records
	load := func(size int64, text []byte, trusted bool) {
		if trusted && CheckpointOrigin(text) != o.Origin {
			// A witness may keep the checkpoints of several logs.
			rep.OtherLogs++
			return
		}
		c, ext, _, err := log.ParseCheckpoint(text, o.Origin, o.Verifier)
		if err != nil {
			err = otherSigner(err, text, o.Verifier)
		}
		switch {
		case err != nil && trusted:
			rep.Problems = append(rep.Problems, Problem{Kind: CheckpointForged, Leaf: -1, Detail: "a checkpoint kept outside the database: " + err.Error()})
		case err != nil:
			rep.Problems = append(rep.Problems, Problem{Kind: CheckpointForged, Leaf: -1, Checkpoint: size, Detail: err.Error()})
		case size >= 0 && int64(c.Size) != size:
			rep.Problems = append(rep.Problems, Problem{Kind: CheckpointForged, Leaf: -1, Checkpoint: size, Detail: fmt.Sprintf("it is stored as size %d but signs size %d", size, c.Size)})
		default:
			cps = append(cps, cp{int64(c.Size), c.Hash, signedTime(ext)})
			signedNext = max(signedNext, signedPosition(ext))
			if p := parsePrunes(ext); p.ok {
				pruneSigs = append(pruneSigs, signedAt{int64(c.Size), p})
			}
			if !trusted {
				rep.Checkpoints++
				rep.Latest = max(rep.Latest, int64(c.Size))
			} else {
				rep.Trusted++
			}
		}
	}
	// One snapshot of the log: a round that commits while Verify reads
	// must not show its leaves without its checkpoint.
	opts := &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true}
	if d == auditstore.SQLite {
		opts = nil // a read transaction is a snapshot there
	}
	tx, err := db.BeginTx(ctx, opts)
	if err != nil {
		return rep, fmt.Errorf("auditseal: begin: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	rows, err := tx.QueryContext(ctx, "SELECT size, note FROM "+checkpointsTable+" ORDER BY size")
	if err != nil {
		return rep, fmt.Errorf("auditseal: read checkpoints: %w", err)
	}
	for rows.Next() {
		var size int64
		var text string
		if err := rows.Scan(&size, &text); err != nil {
			rows.Close()
			return rep, err
		}
		load(size, []byte(text), false)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return rep, err
	}
	for _, t := range o.Trusted {
		load(-1, t, true)
	}
	// The prune records, chained as the sealer chains them, against what
	// each checkpoint signs of them.
	var recs []pruneRecord
	recsInstalled, err := auditstore.TableExists(ctx, tx, d, prunesTable)
	if err != nil {
		return rep, fmt.Errorf("auditseal: look for the prune records: %w", err)
	}
	if recsInstalled {
		// (A log not migrated to version 5 has none; its checkpoints
		// sign none either.)
		if recs, err = readPrunes(ctx, tx, d, -1); err != nil {
			return rep, err
		}
	}
	// What the marks of each record come to, leaf by leaf.
	type marks struct {
		n, first, last int64
		h              *auditstore.PruneHash
	}
	bySeq := map[int64]*marks{}
	recOf := map[int64]pruneRecord{}
	chainAt := map[int64][32]byte{0: {}} // the chain's hash at each record
	var h [32]byte
	for _, r := range recs {
		h = r.chain(h)
		chainAt[r.seq] = h
		recOf[r.seq] = r
		bySeq[r.seq] = &marks{h: auditstore.NewPruneHash()}
	}
	signedSeq := int64(-1) // the highest record a checkpoint signs; -1: none signs records
	for _, sig := range pruneSigs {
		if got, ok := chainAt[sig.prunes.seq]; !ok || got != sig.prunes.hash {
			rep.Problems = append(rep.Problems, Problem{Kind: PruneRecordAltered, Leaf: -1, Checkpoint: sig.size,
				Detail: fmt.Sprintf("the flushes' records up to %d are not those it signs", sig.prunes.seq)})
			continue
		}
		signedSeq = max(signedSeq, sig.prunes.seq)
	}
	// Once a checkpoint signs prune records, every mark must be a
	// record's; before (a log sealed before version 5), marks are listed
	// by flush as they are.
	recordsSigned := len(pruneSigs) > 0
	var legacy []Pruned

	roots := map[int64][][]byte{}
	for _, c := range cps {
		roots[c.size] = append(roots[c.size], c.root)
	}

	// The leaves, in order, with the entries they name.
	rf := compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}
	tree := rf.NewEmptyRange(0)
	check := func(size int64) error {
		if len(roots[size]) == 0 {
			return nil
		}
		var got []byte
		if size == 0 {
			got = rfc6962.DefaultHasher.EmptyRoot()
		} else {
			var err error
			if got, err = tree.GetRootHash(nil); err != nil {
				return err
			}
		}
		for _, want := range roots[size] {
			if !bytes.Equal(got, want) {
				rep.Problems = append(rep.Problems, Problem{Kind: CheckpointMismatch, Leaf: -1, Checkpoint: size, Detail: "the leaves give another root"})
			}
		}
		delete(roots, size)
		return nil
	}
	if err := check(0); err != nil {
		return rep, err
	}
	gapWait := o.GapWait
	if gapWait <= 0 {
		gapWait = DefaultGapWait
	}
	var total int64
	if o.Progress != nil {
		if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+leavesTable).Scan(&total); err != nil {
			return rep, fmt.Errorf("auditseal: count leaves: %w", err)
		}
	}
	var newest time.Time // the newest sealed entry's time
	// The signed times, by size: the leaf at index i was sealed by the
	// round that signed the smallest checkpoint larger than i, no later.
	var timed []cp
	for _, c := range cps {
		if !c.at.IsZero() {
			timed = append(timed, c)
		}
	}
	slices.SortFunc(timed, func(a, b cp) int {
		// Of a size signed more than once (a tree signed again with a
		// new position, a kept copy), the earliest first.
		return cmp.Or(cmp.Compare(a.size, b.size), a.at.Compare(b.at))
	})
	sealedBy := func(index int64) time.Time {
		i, _ := slices.BinarySearchFunc(timed, index+1, func(c cp, size int64) int { return cmp.Compare(c.size, size) })
		if i == len(timed) {
			return time.Time{}
		}
		return timed[i].at
	}
	// On SQLite a timestamp is text, which time filters compare as text:
	// its storage class is read too.
	tsType := ""
	if d == auditstore.SQLite {
		tsType = ", typeof(e.timestamp), " + storageClasses("e.")
	}
	seqCol := ", NULL"
	if recsInstalled {
		seqCol = ", l.prune_seq"
	}
	lrows, err := tx.QueryContext(ctx, "SELECT l.leaf_index, l.entry_id, l.leaf_hash, l.pruned_at, l.pruned_by, "+verifyColumns(d)+seqCol+tsType+" FROM "+leavesTable+" l LEFT JOIN "+auditstore.Table+" e ON e.id = l.entry_id ORDER BY l.leaf_index")
	if err != nil {
		return rep, fmt.Errorf("auditseal: read leaves: %w", err)
	}
	defer lrows.Close()
	// size is the tree's leaves so far: the leaves from index 0 without a
	// gap. Past a gap the tree, and so the checkpoints beyond it, cannot be
	// rebuilt; every leaf is still checked against its entry.
	var size, end int64 // end: the index after the last leaf read
	broken := false
	prevIndex := int64(-1)
	for lrows.Next() {
		var (
			index, entryID int64
			stored         []byte
			prunedAt       sql.NullInt64
			prunedBy       sql.NullString
			e              rawEntry
			id             sql.NullInt64
			storage        sql.NullString
			classes        sql.NullString
			pruneSeq       sql.NullInt64
		)
		dest := append([]any{&index, &entryID, &stored, &prunedAt, &prunedBy}, e.dest()...)
		dest[5] = &id
		dest = append(dest, &pruneSeq)
		if tsType != "" {
			dest = append(dest, &storage, &classes)
		}
		if err := lrows.Scan(dest...); err != nil {
			return rep, fmt.Errorf("auditseal: read leaves: %w", err)
		}
		switch {
		case index == prevIndex && rep.Leaves > 0:
			// The join gave the leaf twice: its entry's id is in the
			// table twice (a partitioned table's key is the id and the
			// time). The row checked first stands for the leaf.
			detail := "the entries table holds its id twice"
			if t, err := auditstore.DecodeTime(d, e.ts); err == nil {
				detail += ", one row dated " + t.UTC().Format(time.RFC3339Nano)
			}
			rep.Problems = append(rep.Problems, Problem{Kind: EntryInserted, EntryID: entryID, Leaf: index, Detail: detail})
			continue
		case index < end || index >= maxLeafIndex:
			// Below every index a round writes (the leaves are read in
			// order of their primary key): a row put there by hand. Its
			// entry is named here; the unsealed entries below skip it.
			rep.Problems = append(rep.Problems, Problem{Kind: LeafOutOfPlace, EntryID: entryID, Leaf: -1,
				Detail: fmt.Sprintf("its leaf's index is %d: no round writes a leaf below 0 or at 2^62 and above", index)})
			continue
		case index > end:
			// The leaves skip indexes: the tree cannot be rebuilt past them.
			detail := ""
			if index > end+1 {
				detail = fmt.Sprintf("leaves %d to %d are missing", end, index-1)
			}
			if !broken {
				detail = strings.TrimPrefix(detail+"; the checkpoints beyond cannot be checked", "; ")
			}
			rep.Problems = append(rep.Problems, Problem{Kind: LeafMissing, Leaf: end, Detail: detail})
			broken = true
		}
		prevIndex, end = index, index+1
		// The entry's time, read once for the checks below (leafData reads
		// it for the leaf).
		var at time.Time
		atErr := errors.New("no entry")
		if id.Valid {
			at, atErr = auditstore.DecodeTime(d, e.ts)
		}
		switch {
		case !id.Valid && prunedAt.Valid && !recordsSigned:
			at := time.UnixMicro(prunedAt.Int64).UTC()
			i := slices.IndexFunc(legacy, func(p Pruned) bool { return p.By == prunedBy.String && p.At.Equal(at) })
			if i < 0 {
				legacy = append(legacy, Pruned{By: prunedBy.String, At: at, FirstLeaf: index})
				i = len(legacy) - 1
			}
			legacy[i].Leaves++
			legacy[i].LastLeaf = index
		case !id.Valid && prunedAt.Valid:
			r, ok := recOf[pruneSeq.Int64]
			if !pruneSeq.Valid || !ok || r.at != prunedAt.Int64 || r.by != prunedBy.String {
				rep.Problems = append(rep.Problems, Problem{Kind: PruneUnrecorded, EntryID: entryID, Leaf: index,
					Detail: fmt.Sprintf("its leaf is marked pruned by %q at %s, which no flush's record names", prunedBy.String, time.UnixMicro(prunedAt.Int64).UTC().Format(time.RFC3339Nano))})
				break
			}
			m := bySeq[pruneSeq.Int64]
			if m.n == 0 {
				m.first = index
			}
			m.n++
			m.last = index
			m.h.Add(index)
		case !id.Valid:
			rep.Problems = append(rep.Problems, Problem{Kind: EntryDeleted, EntryID: entryID, Leaf: index})
		default:
			e.id = id.Int64
			data, err := leafData(d, &e)
			if err != nil {
				rep.Problems = append(rep.Problems, Problem{Kind: EntryModified, EntryID: entryID, Leaf: index, Detail: err.Error()})
				break
			}
			if prunedAt.Valid && recordsSigned {
				// A flush marks the leaves of what it deletes: a marked
				// leaf whose entry is there was marked by hand, or its
				// entry put back to free its mark.
				rep.Problems = append(rep.Problems, Problem{Kind: PruneUnrecorded, EntryID: entryID, Leaf: index,
					Detail: "its leaf is marked pruned, and the entry is there"})
			}
			if h := LeafHash(data); !bytes.Equal(h[:], stored) {
				rep.Problems = append(rep.Problems, Problem{Kind: EntryModified, EntryID: entryID, Leaf: index})
			} else if tsType != "" && atErr == nil {
				detail := timeText(e.ts, at, storage.String)
				if detail == "" && classes.String != "" {
					detail = "its " + classes.String + ": filters compare it as unequal to every value, and do not find the entry"
				}
				if detail != "" {
					rep.Problems = append(rep.Problems, Problem{Kind: EntryModified, EntryID: entryID, Leaf: index, Detail: detail})
				}
			} else if atErr != nil {
				rep.Problems = append(rep.Problems, Problem{Kind: EntryUnreadable, EntryID: entryID, Leaf: index, Detail: atErr.Error()})
			}
		}
		if atErr == nil {
			// The sealer appends entries as they commit: one dated long
			// before an entry sealed earlier was not a late commit of a
			// transaction shorter than GapWait, but put there since.
			if !newest.IsZero() && at.Before(newest.Add(-gapWait)) {
				rep.Problems = append(rep.Problems, Problem{Kind: EntryInserted, EntryID: entryID, Leaf: index,
					Detail: fmt.Sprintf("dated %s, sealed after an entry dated %s, more than %s later", at.Format(time.RFC3339), newest.Format(time.RFC3339), gapWait)})
			}
			// One dated after the round that sealed it signed was dated
			// ahead (forged, or by a host whose clock runs fast): it is
			// reported, and counts as dated when it was sealed, so that
			// the entries after it are not taken for inserted.
			latest := at
			if sealed := sealedBy(index); !sealed.IsZero() && at.After(sealed) {
				if at.After(sealed.Add(gapWait)) {
					rep.Problems = append(rep.Problems, Problem{Kind: EntryDatedAhead, EntryID: entryID, Leaf: index,
						Detail: fmt.Sprintf("dated %s, after the checkpoint that sealed it was signed (%s), more than %s before", at.Format(time.RFC3339), sealed.Format(time.RFC3339), gapWait)})
				}
				latest = sealed
			}
			if latest.After(newest) {
				newest = latest
			}
		}
		rep.Leaves++
		if !broken {
			if err := tree.Append(stored, nil); err != nil {
				return rep, err
			}
			size++
			if err := check(size); err != nil {
				return rep, err
			}
		}
		if o.Progress != nil && rep.Leaves%10_000 == 0 {
			o.Progress(rep.Leaves, total)
		}
	}
	if o.Progress != nil {
		o.Progress(rep.Leaves, total)
	}
	if err := lrows.Err(); err != nil {
		return rep, fmt.Errorf("auditseal: read leaves: %w", err)
	}
	lrows.Close()
	// Each record must name exactly the leaves marked by it; the flushes
	// are listed record by record, a flush's consecutive records as one.
	rep.Pruned = legacy
	if recordsSigned {
		for _, r := range recs {
			m := bySeq[r.seq]
			if m.n != r.leaves || !bytes.Equal(m.h.Sum(), r.digest) {
				rep.Problems = append(rep.Problems, Problem{Kind: PruneUnrecorded, Leaf: -1,
					Detail: fmt.Sprintf("the flush %q at %s records %d pruned leaves (record %d), and %d other or fewer are marked by it", r.by, time.UnixMicro(r.at).UTC().Format(time.RFC3339Nano), r.leaves, r.seq, m.n)})
			}
			at := time.UnixMicro(r.at).UTC()
			if n := len(rep.Pruned); n > 0 && rep.Pruned[n-1].By == r.by && rep.Pruned[n-1].At.Equal(at) && m.n > 0 {
				p := &rep.Pruned[n-1]
				if p.Leaves == 0 {
					p.FirstLeaf = m.first
				}
				p.FirstLeaf = min(p.FirstLeaf, m.first)
				p.Leaves += m.n
				p.LastLeaf = max(p.LastLeaf, m.last)
				p.Signed = p.Signed && r.seq <= signedSeq
				continue
			}
			rep.Pruned = append(rep.Pruned, Pruned{By: r.by, At: at, Leaves: m.n, FirstLeaf: m.first, LastLeaf: m.last, Signed: r.seq <= signedSeq})
		}
	}
	for n := range roots {
		if broken && n <= end {
			continue // past the missing leaves, reported
		}
		rep.Problems = append(rep.Problems, Problem{Kind: CheckpointMissing, Leaf: -1, Checkpoint: n, Detail: fmt.Sprintf("the log has %d leaves", end)})
	}
	if rep.Latest < end {
		// A round stores its leaves and their checkpoint together.
		rep.Problems = append(rep.Problems, Problem{Kind: LeavesUnsigned, Leaf: rep.Latest,
			Detail: fmt.Sprintf("leaves %d to %d are covered by no valid checkpoint", rep.Latest, end-1)})
	}
	// The stored hashes proofs read (after the checkpoints' problems,
	// which say more of a log cut back).
	var signed cp // the largest tree a valid checkpoint signs, within the leaves
	for _, c := range cps {
		if c.size <= size && c.size > signed.size {
			signed = c
		}
	}
	ps, err := checkStoredHashes(ctx, tx, d, size, end, signed.size, signed.root)
	if err != nil {
		return rep, err
	}
	rep.Problems = append(rep.Problems, ps...)

	// Entries no leaf names: inside the sealed range, or not reached yet.
	var next int64
	if err := tx.QueryRowContext(ctx, "SELECT next_id FROM "+stateTable+" WHERE id = 1").Scan(&next); err != nil && err != sql.ErrNoRows {
		return rep, fmt.Errorf("auditseal: read the sealer's position: %w", err)
	}
	// The stored position is not signed: the signed one holds against it.
	next = max(next, signedNext)
	highest, issuedKnown, err := auditstore.HighestIssuedID(ctx, tx, d)
	if err != nil {
		return rep, fmt.Errorf("auditseal: %w", err)
	}
	urows, err := tx.QueryContext(ctx, "SELECT e.id, "+auditstore.TimeColumn(d, "e.timestamp")+" FROM "+auditstore.Table+" e WHERE NOT EXISTS (SELECT 1 FROM "+leavesTable+" l WHERE l.entry_id = e.id) ORDER BY e.id")
	if err != nil {
		return rep, fmt.Errorf("auditseal: read unsealed entries: %w", err)
	}
	defer urows.Close()
	for urows.Next() {
		var id int64
		var ts any
		if err := urows.Scan(&id, &ts); err != nil {
			return rep, err
		}
		t, err := auditstore.DecodeTime(d, ts)
		if err != nil {
			rep.Problems = append(rep.Problems, Problem{Kind: EntryUnreadable, EntryID: id, Leaf: -1, Detail: err.Error()})
			continue
		}
		switch {
		case issuedKnown && id > highest:
			rep.Problems = append(rep.Problems, Problem{Kind: EntryInserted, EntryID: id, Leaf: -1, Detail: fmt.Sprintf("its id is above every id the database handed out (%d): inserted with its id by hand", highest)})
		case id < next:
			rep.Problems = append(rep.Problems, Problem{Kind: EntryInserted, EntryID: id, Leaf: -1, Detail: fmt.Sprintf("its id is below the sealer's position %d", next)})
		case !newest.IsZero() && t.Before(newest.Add(-gapWait)):
			rep.Problems = append(rep.Problems, Problem{Kind: EntryInserted, EntryID: id, Leaf: -1,
				Detail: fmt.Sprintf("dated %s, more than %s before the newest sealed entry (%s)", t.Format(time.RFC3339), gapWait, newest.Format(time.RFC3339))})
		default:
			rep.Unsealed++
			if rep.Oldest.IsZero() || t.Before(rep.Oldest) {
				rep.Oldest = t
			}
		}
	}
	return rep, urows.Err()
}

// maxLeafIndex bounds the leaf indexes Verify takes in place: no log holds
// 2^62 leaves, and one past the largest int64 would overflow.
const maxLeafIndex = 1 << 62

// checkStoredHashes checks the tree's stored hashes (the nodes as
// golang.org/x/mod/sumdb/tlog stores them, which proofs and the sealer's
// rounds read) against the tree the first leaves give (those from index
// 0 up to a gap): every node of their complete subtrees there with its
// hash, and none beyond the last leaf's, end - 1. It
// reads the leaves' hashes again, a chunk at a time, each chunk's nodes
// then. Where they differ, the side that gives the root the largest
// checkpoint within the leaves signs (size, root) is the signed tree: if
// the stored hashes give it, the leaves whose hash differs from their
// stored one were rewritten (each a LeafRewritten problem); otherwise the
// stored hashes were (one HashesAltered problem counting them).
func checkStoredHashes(ctx context.Context, tx *sql.Tx, d auditstore.Dialect, leaves, end, size int64, root []byte) ([]Problem, error) {
	q := queries{d: d}
	rf := compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}
	tree := rf.NewEmptyRange(0)
	var bad, first int64 = 0, -1
	type leafRef struct{ index, entry int64 }
	var leafBad []leafRef // leaves whose hash is not their stored one
	type node struct {
		idx  int64
		hash []byte
		leaf leafRef // a leaf's node (level 0)
	}
	const chunk = 10_000
	for from := int64(0); from < leaves; from += chunk {
		rows, err := tx.QueryContext(ctx, "SELECT leaf_index, entry_id, leaf_hash FROM "+leavesTable+" WHERE leaf_index >= "+q.ph(1)+" AND leaf_index < "+q.ph(2)+" ORDER BY leaf_index", from, min(from+chunk, leaves))
		if err != nil {
			return nil, fmt.Errorf("auditseal: read leaves: %w", err)
		}
		var nodes []node
		for rows.Next() {
			var l leafRef
			var h []byte
			if err := rows.Scan(&l.index, &l.entry, &h); err != nil {
				rows.Close()
				return nil, fmt.Errorf("auditseal: read leaves: %w", err)
			}
			if err := tree.Append(h, func(id compact.NodeID, hash []byte) {
				n := node{idx: tlog.StoredHashIndex(int(id.Level), int64(id.Index)), hash: hash, leaf: leafRef{-1, 0}}
				if id.Level == 0 {
					n.leaf = l
				}
				nodes = append(nodes, n)
			}); err != nil {
				rows.Close()
				return nil, err
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("auditseal: read leaves: %w", err)
		}
		if len(nodes) == 0 {
			break
		}
		wrong := func(n node) {
			if bad++; first < 0 {
				first = n.idx
			}
			if n.leaf.index >= 0 && len(leafBad) < 1000 {
				leafBad = append(leafBad, n.leaf)
			}
		}
		// The nodes of a run of leaves are stored at consecutive indexes.
		rows, err = tx.QueryContext(ctx, "SELECT idx, hash FROM "+hashesTable+" WHERE idx >= "+q.ph(1)+" AND idx <= "+q.ph(2)+" ORDER BY idx", nodes[0].idx, nodes[len(nodes)-1].idx)
		if err != nil {
			return nil, fmt.Errorf("auditseal: read stored hashes: %w", err)
		}
		i := 0
		for rows.Next() {
			var idx int64
			var h []byte
			if err := rows.Scan(&idx, &h); err != nil {
				rows.Close()
				return nil, fmt.Errorf("auditseal: read stored hashes: %w", err)
			}
			for i < len(nodes) && nodes[i].idx < idx {
				wrong(nodes[i]) // missing
				i++
			}
			if i < len(nodes) && nodes[i].idx == idx {
				if !bytes.Equal(h, nodes[i].hash) {
					wrong(nodes[i])
				}
				i++
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("auditseal: read stored hashes: %w", err)
		}
		for ; i < len(nodes); i++ {
			wrong(nodes[i])
		}
	}
	// A round stores its leaves and their nodes together: none beyond.
	var beyond int64
	if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+hashesTable+" WHERE idx >= "+q.ph(1), tlog.StoredHashIndex(0, end)).Scan(&beyond); err != nil {
		return nil, fmt.Errorf("auditseal: read stored hashes: %w", err)
	}
	var out []Problem
	if bad > 0 && size > 0 && len(leafBad) > 0 && len(root) == tlog.HashSize {
		// Which side is the signed tree? A leaf whose stored hash leads,
		// by the stored path, to the signed root was rewritten in the
		// leaves; if every differing leaf is such, the stored hashes
		// differ only above them, from the rewritten leaves.
		hr := &hashReader{db: tx, d: d, ctx: ctx}
		var rewritten []Problem
		for _, l := range leafBad {
			if l.index >= size || !storedPathSigned(hr, size, tlog.Hash(root), l.index) {
				rewritten = nil
				break
			}
			rewritten = append(rewritten, Problem{Kind: LeafRewritten, EntryID: l.entry, Leaf: l.index,
				Detail: "its leaf's hash is not the one the signed tree holds (its stored hash leads to the signed root)"})
		}
		if len(rewritten) > 0 {
			out, bad = rewritten, 0
		}
	}
	if bad == 0 && beyond == 0 {
		return out, nil
	}
	detail := ""
	if bad > 0 {
		detail = fmt.Sprintf("%d of the tree's stored hashes are missing or not the tree's (the first at index %d): inclusion proofs through them fail", bad, first)
	}
	if beyond > 0 {
		if detail != "" {
			detail += "; "
		}
		detail += fmt.Sprintf("%d stored hashes lie beyond the tree's %d leaves: the sealer's next round cannot store its own there", beyond, end)
	}
	return append(out, Problem{Kind: HashesAltered, Leaf: -1, Detail: detail}), nil
}

// storedPathSigned reports whether leaf index's stored hash leads, by
// the stored hashes of its path, to root, the signed root of a tree of
// size leaves.
func storedPathSigned(hr *hashReader, size int64, root tlog.Hash, index int64) bool {
	leaf, err := hr.ReadHashes([]int64{tlog.StoredHashIndex(0, index)})
	if err != nil {
		return false
	}
	proof, err := tlog.ProveRecord(size, index, hr)
	return err == nil && tlog.CheckRecord(proof, size, root, index, leaf[0]) == nil
}

// verifyColumns are the entry's columns as Verify reads them: on SQLite
// an integer column holding no integer (text, a REAL or a BLOB, which it
// keeps when it cannot convert them) is read through CAST, so that the
// entry is reported (its leaf differs, or storageClasses names the
// column) rather than the scan failing the whole run.
func verifyColumns(d auditstore.Dialect) string {
	cols := strings.Split(auditstore.ReadColumns(d, "e."), ", ")
	if d != auditstore.SQLite {
		return strings.Join(cols, ", ")
	}
	for i, c := range cols {
		switch c {
		case "e.action", "e.object_id", "e.remote_port":
			cols[i] = "CAST(" + c + " AS INTEGER)"
		}
	}
	return strings.Join(cols, ", ")
}

// sqliteClasses are the storage classes each column of an entry has on
// SQLite, as every writer of the log stores it. SQLite converts text and
// numbers to a column's type, but keeps a BLOB: a column rewritten as the
// BLOB of its own bytes reads back as the same value (its leaf matches),
// while every filter compares it as unequal to text or a number.
var sqliteClasses = []struct{ col, classes string }{
	{"action", "'integer'"},
	{"model", "'text'"},
	{"object_pk", "'text'"},
	{"object_id", "'integer', 'null'"},
	{"object_repr", "'text'"},
	{"changes", "'text', 'null'"},
	{"serialized_data", "'text', 'null'"},
	{"additional_data", "'text', 'null'"},
	{"actor_id", "'text', 'null'"},
	{"actor_name", "'text', 'null'"},
	{"remote_addr", "'text', 'null'"},
	{"remote_port", "'integer', 'null'"},
	{"cid", "'text', 'null'"},
}

// storageClasses is an SQLite expression over an entry (its columns
// prefixed with alias) that names the columns stored in another class
// than sqliteClasses give ("model is stored as blob, cid is stored as
// blob"), or is ”.
func storageClasses(alias string) string {
	parts := make([]string, len(sqliteClasses))
	for i, c := range sqliteClasses {
		col := alias + c.col
		parts[i] = "CASE WHEN typeof(" + col + ") NOT IN (" + c.classes + ") THEN '" + c.col + " is stored as ' || typeof(" + col + ") || ', ' ELSE '' END"
	}
	return "rtrim(" + strings.Join(parts, " || ") + ", ', ')"
}

// timeText checks an SQLite timestamp v, read as at, whose leaf matches:
// the leaf holds its instant, and the text must be the one form auditstore
// writes, or time filters, which compare text, place the entry elsewhere
// than its instant (the same instant as …+14:00, or as a BLOB, is out of
// every range of text). It returns what is wrong, or "".
func timeText(v any, at time.Time, storage string) string {
	var s string
	switch t := v.(type) {
	case string:
		s = t
	case []byte:
		s = string(t)
	default:
		return ""
	}
	want := auditstore.EncodeTime(auditstore.SQLite, at).(string)
	switch {
	case storage != "text":
		return fmt.Sprintf("its timestamp is stored as %s, not text: time filters do not find it at %s", storage, want)
	case s != want:
		return fmt.Sprintf("its timestamp is stored as %q, not %q: time filters place it elsewhere", s, want)
	}
	return ""
}
