package follow

import (
	"math"
	"slices"
	"testing"
	"time"

	"github.com/go-auditlog/auditlog/auditstore"
)

// TestReadsNewestFirst: the ids above hi are read first, then the gaps from
// the highest down, at most GapsPerStatement to a statement.
func TestReadsNewestFirst(t *testing.T) {
	t0 := time.Unix(0, 0)
	var gaps []Gap
	for i := range int64(GapsPerStatement + 2) {
		gaps = append(gaps, Gap{From: 10 * i, To: 10*i + 1, Seen: t0})
	}
	reads := Reads(gaps, 100_000)
	if len(reads) != 3 {
		t.Fatalf("%d statements, want 3", len(reads))
	}
	if !slices.Equal(reads[0], []auditstore.IDRange{{From: 100_001, To: math.MaxInt64}}) {
		t.Fatalf("first read %v", reads[0])
	}
	if len(reads[1]) != GapsPerStatement || reads[1][0].From != 20 || reads[2][0].From != 0 || len(reads[2]) != 2 {
		t.Fatalf("gap reads %v … %v", reads[1][:2], reads[2])
	}
	if got := Reads(nil, math.MaxInt64); len(got) != 0 {
		t.Fatalf("reads above the largest id: %v", got)
	}
}

func TestNextAndPosition(t *testing.T) {
	t0 := time.Unix(1000, 0)
	// Ids 1–3 taken; a round finds 5, 8 and 10 above hi 3: 4, 6–7 and 9
	// are gaps.
	gaps := Next(nil, []int64{5, 8, 10}, 3, 10, t0, time.Hour)
	want := []Gap{{4, 4, t0}, {6, 7, t0}, {9, 9, t0}}
	if !slices.Equal(gaps, want) {
		t.Fatalf("gaps %v, want %v", gaps, want)
	}
	if p := Position(gaps, 10, t0, time.Minute); p != 4 {
		t.Fatalf("position %d, want 4", p)
	}
	// 6 commits late: the gap splits.
	gaps = Next(gaps, []int64{6}, 10, 10, t0.Add(time.Second), time.Hour)
	if want := []Gap{{4, 4, t0}, {7, 7, t0}, {9, 9, t0}}; !slices.Equal(gaps, want) {
		t.Fatalf("gaps %v, want %v", gaps, want)
	}
	// Past GapWait the gaps stop holding the position; past SweepFor they
	// are dropped.
	if p := Position(gaps, 10, t0.Add(2*time.Minute), time.Minute); p != 11 {
		t.Fatalf("position %d after GapWait, want 11", p)
	}
	if gaps = Next(gaps, nil, 10, 10, t0.Add(2*time.Hour), time.Hour); len(gaps) != 0 {
		t.Fatalf("gaps %v after SweepFor", gaps)
	}
	if p := Position(nil, math.MaxInt64, t0, time.Minute); p != math.MaxInt64 {
		t.Fatalf("position %d at the largest id", p)
	}
}
