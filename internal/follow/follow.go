// Package follow follows the entries table in commit order, for the
// sealer (package auditseal) and the relay (package auditrelay).
//
// Entry ids are taken when an entry is inserted, not when it commits: on
// PostgreSQL and MariaDB a transaction that commits late leaves a lower id
// visible after higher ones, and a transaction that rolls back leaves its
// ids missing forever. A follower keeps the highest id it has taken (Hi)
// and the ids missing below it (its gaps), reads in each round the ids
// above Hi and those in its gaps, and takes what it finds in id order. A
// late entry is taken in a later round. A gap holds the follower's
// position (the lowest id it cannot yet account for) while it is younger
// than GapWait; an older one counts as rolled back, but is still read for
// SweepFor.
package follow

import (
	"cmp"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/go-auditlog/auditlog/auditstore"
)

// Gap is a range of missing entry ids, first seen at Seen.
type Gap struct {
	From, To int64
	Seen     time.Time
}

// GapsPerStatement bounds the gaps one read binds: many gaps (one per
// rolled-back transaction, kept for SweepFor) go to a statement, not one
// each, and under every database's bind-variable limit.
const GapsPerStatement = 500

// Reads returns the id ranges a round reads, one statement's ranges to an
// element, in the order the round must run them: the ids above hi first,
// then the gaps from the highest down.
//
// The order keeps each object's entries in their commit order where each
// statement sees what committed before it started (PostgreSQL's and
// MariaDB's READ COMMITTED; a transaction's snapshot sees that as well): an
// object's earlier entry has a lower id and committed before its later
// one, so when a statement finds the later entry, the earlier one is found
// by that statement or by one that runs after it, never missed by one that
// ran before it committed.
func Reads(gaps []Gap, hi int64) [][]auditstore.IDRange {
	out := [][]auditstore.IDRange{{{From: hi + 1, To: math.MaxInt64}}}
	if hi == math.MaxInt64 {
		out = out[:0]
	}
	for end := len(gaps); end > 0; end -= GapsPerStatement {
		group := make([]auditstore.IDRange, 0, min(end, GapsPerStatement))
		for _, g := range gaps[max(0, end-GapsPerStatement):end] {
			group = append(group, auditstore.IDRange{From: g.From, To: g.To})
		}
		out = append(out, group)
	}
	return out
}

// Next returns the gaps after a round that found the ids in ids (in
// order): the old gaps without the ids found in them, and the ranges
// missing between hi (the highest id taken before) and newHi, first seen
// now. Gaps seen longer than sweepFor ago are dropped.
func Next(old []Gap, ids []int64, hi, newHi int64, now time.Time, sweepFor time.Duration) []Gap {
	var out []Gap
	split := func(g Gap) {
		from := g.From
		for _, id := range ids {
			if id < from || id > g.To {
				continue
			}
			if id > from {
				out = append(out, Gap{from, id - 1, g.Seen})
			}
			if id == math.MaxInt64 {
				return // no id above
			}
			from = id + 1
		}
		if from <= g.To {
			out = append(out, Gap{from, g.To, g.Seen})
		}
	}
	for _, g := range old {
		if now.Sub(g.Seen) <= sweepFor {
			split(g)
		}
	}
	if newHi > hi && hi < math.MaxInt64 {
		split(Gap{hi + 1, newHi, now})
	}
	slices.SortFunc(out, func(a, b Gap) int { return cmp.Compare(a.From, b.From) })
	return out
}

// Position returns the lowest id not accounted for: the first gap younger
// than gapWait, or the id after hi.
func Position(gaps []Gap, hi int64, now time.Time, gapWait time.Duration) int64 {
	for _, g := range gaps {
		if now.Sub(g.Seen) < gapWait {
			return g.From
		}
	}
	if hi == math.MaxInt64 {
		return hi
	}
	return hi + 1
}

// Encode is gaps as they are saved: a JSON array of [from, to, first seen
// (Unix ms)].
func Encode(gaps []Gap) string {
	var b strings.Builder
	b.WriteByte('[')
	for i, g := range gaps {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "[%d,%d,%d]", g.From, g.To, g.Seen.UnixMilli())
	}
	b.WriteByte(']')
	return b.String()
}

// Decode reads gaps saved by Encode.
func Decode(s string) ([]Gap, error) {
	var raw [][3]int64
	if err := json.Unmarshal([]byte(s), &raw); err != nil {
		return nil, fmt.Errorf("saved gaps are unreadable: %w", err)
	}
	gaps := make([]Gap, len(raw))
	for i, g := range raw {
		if g[0] > g[1] || i > 0 && g[0] <= gaps[i-1].To {
			return nil, fmt.Errorf("saved gaps are not ascending ranges at %v", g)
		}
		gaps[i] = Gap{From: g[0], To: g[1], Seen: time.UnixMilli(g[2])}
	}
	return gaps, nil
}
