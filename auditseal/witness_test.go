package auditseal_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"golang.org/x/mod/sumdb/note"
	"gorm.io/gorm"

	"github.com/go-auditlog/auditlog/auditseal"
	"github.com/go-auditlog/auditlog/internal/testdb"
)

// zeros reads n zero bytes, as /dev/zero would.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// ReadCheckpoints reads as it goes: a stream of zeros, a line longer than
// a checkpoint can be, and a witness file past its limit stop it with a
// TooLargeError; the two forms it reads keep their bytes.
func TestReadCheckpointsLimits(t *testing.T) {
	t.Parallel()
	line := `{"size":1,"checkpoint":"note\n"}` + "\n"
	for _, tc := range []struct {
		name  string
		in    io.Reader
		want  []string
		limit int64 // of the TooLargeError wanted; 0: none
	}{
		{"one note", strings.NewReader("origin\n1\nroot\n\n— sig\n"), []string{"origin\n1\nroot\n\n— sig\n"}, 0},
		{"one note after blank lines", strings.NewReader("\n\n origin\n"), []string{"\n\n origin\n"}, 0},
		{"witness lines", strings.NewReader("\n" + line + "\n" + line), []string{"note\n", "note\n"}, 0},
		{"zeros", zeros{}, nil, auditseal.MaxCheckpointBytes},
		{"whitespace without end", io.LimitReader(strings.NewReader(strings.Repeat(" ", auditseal.MaxCheckpointBytes+2)), 1<<30), nil, auditseal.MaxCheckpointBytes},
		{"a line too long", strings.NewReader(line + `{"size":2,"checkpoint":"` + strings.Repeat("x", auditseal.MaxCheckpointBytes) + `"}`), nil, auditseal.MaxCheckpointBytes},
		// A line of exactly the limit, its newline after it, is read.
		{"a line of the limit", strings.NewReader(line + `{"size":2,"checkpoint":"` + strings.Repeat("x", auditseal.MaxCheckpointBytes-len(`{"size":2,"checkpoint":""}`)) + `"}` + "\n"), []string{"note\n", strings.Repeat("x", auditseal.MaxCheckpointBytes-len(`{"size":2,"checkpoint":""}`))}, 0},
		// Lines of spaces, which hold nothing, past the limit, and a
		// checkpoint cut by it.
		{"a witness file too large", io.MultiReader(strings.NewReader(line), readerOf(strings.Repeat(" ", 1<<20-1)+"\n", auditseal.MaxWitnessFileBytes>>20), strings.NewReader(line)), nil, auditseal.MaxWitnessFileBytes},
		{"a witness file under the limit", io.MultiReader(strings.NewReader(line), readerOf(strings.Repeat(" ", 1<<20-1)+"\n", auditseal.MaxWitnessFileBytes>>20-1)), []string{"note\n"}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := auditseal.ReadCheckpoints(tc.in)
			var large *auditseal.TooLargeError
			if tc.limit != 0 {
				if !errors.As(err, &large) || large.Limit != tc.limit {
					t.Fatalf("got %d checkpoints, %v; want a TooLargeError of %d", len(got), err, tc.limit)
				}
				return
			}
			if err != nil || len(got) != len(tc.want) {
				t.Fatalf("got %q, %v; want %q", got, err, tc.want)
			}
			for i := range got {
				if !bytes.Equal(got[i], []byte(tc.want[i])) {
					t.Errorf("checkpoint %d: %q, want %q", i, got[i], tc.want[i])
				}
			}
		})
	}
}

// readerOf repeats s n times without holding it n times.
func readerOf(s string, n int) io.Reader {
	return &repeat{s: s, n: n}
}

type repeat struct {
	s   string
	n   int
	off int
}

func (r *repeat) Read(p []byte) (int, error) {
	done := 0
	for done < len(p) {
		if r.n == 0 {
			if done == 0 {
				return 0, io.EOF
			}
			break
		}
		c := copy(p[done:], r.s[r.off:])
		done += c
		if r.off += c; r.off == len(r.s) {
			r.off, r.n = 0, r.n-1
		}
	}
	return done, nil
}

// Checkpoints of another log among the trusted ones (a witness that keeps
// several logs') are passed over and counted; one of this log's that does
// not verify is a problem that names no size it does not have.
func TestTrustedCheckpointsOfOtherLogs(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, gdb *gorm.DB) {
		f := open(t, gdb)
		f.insert(t, nil, "a", 3)
		f.round(t)
		var own string
		if err := f.db.QueryRow("SELECT note FROM auditlog_seal_checkpoints").Scan(&own); err != nil {
			t.Fatal(err)
		}
		otherSigner, _ := keys(t, "example.com/other")
		other, err := note.Sign(&note.Note{Text: "example.com/other\n1\n" + base64.StdEncoding.EncodeToString(make([]byte, 32)) + "\n"}, otherSigner)
		if err != nil {
			t.Fatal(err)
		}
		rep := f.verify(t, []byte(own), other)
		if !rep.OK() || rep.Trusted != 1 || rep.OtherLogs != 1 {
			t.Fatalf("own and another log's checkpoint: %+v\n%s", rep, problems(rep))
		}
		// This log's checkpoint with CRLF line ends is this log's, and
		// does not verify.
		rep = f.verify(t, []byte(strings.ReplaceAll(own, "\n", "\r\n")))
		if rep.OK() || rep.OtherLogs != 0 {
			t.Fatalf("a CRLF copy of this log's checkpoint: %+v", rep)
		}
		forged := strings.Replace(own, "\n3\n", "\n2\n", 1)
		rep = f.verify(t, []byte(forged))
		if got := problems(rep); rep.OK() || !strings.Contains(got, "checkpoint invalid: a checkpoint kept outside the database") || strings.Contains(got, "size -1") {
			t.Fatalf("a forged checkpoint of this log: %q", got)
		}
	})
}

// flakyWitness fails while down.
type flakyWitness struct {
	mu   sync.Mutex
	down bool
	got  []int64
}

func (w *flakyWitness) Witness(_ context.Context, size int64, _ []byte) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.down {
		return errors.New("broker down")
	}
	w.got = append(w.got, size)
	return nil
}

// A checkpoint a witness missed was sent again only with the next one:
// while the log was quiet, the witness held an older size for good, and a
// log cut back to it, with its checkpoints, went unnoticed. Each round
// sends it again until it reaches the witness.
func TestCheckpointAWitnessMissedIsSentAgain(t *testing.T) {
	f := open(t, testdb.Open(t, "sqlite"))
	w, ok := &flakyWitness{}, &flakyWitness{}
	f.sealer.Witnesses = []auditseal.Witness{w, ok}
	f.insert(t, nil, "a", 3)
	f.round(t)
	f.insert(t, nil, "b", 3)
	w.down = true
	if _, err := f.sealer.Round(context.Background()); err == nil || !strings.Contains(err.Error(), "broker down") {
		t.Fatalf("a round with a witness down: %v", err)
	}
	if _, err := f.sealer.Round(context.Background()); err == nil {
		t.Fatalf("a quiet round with the witness still down: no error")
	}
	w.down = false
	for range 3 {
		f.round(t) // quiet rounds
	}
	if !slices.Equal(w.got, []int64{3, 6}) || !slices.Equal(ok.got, []int64{3, 6}) {
		t.Fatalf("the witnesses hold sizes %v and %v, want [3 6] each", w.got, ok.got)
	}
}

// The same across a restart: a checkpoint a witness missed was lost when
// its sealer's process ended (seal --once from cron, a restart), and the
// next sealer, finding nothing new, sent nothing. A sealer's first round
// sends the latest checkpoint; a witness file that holds it already as
// its last line is not appended to again.
func TestCheckpointAWitnessMissedReachesItAfterARestart(t *testing.T) {
	f := open(t, testdb.Open(t, "sqlite"))
	w := &flakyWitness{}
	f.sealer.Witnesses = []auditseal.Witness{w}
	f.insert(t, nil, "a", 3)
	f.round(t)
	f.insert(t, nil, "b", 3)
	w.down = true
	if _, err := f.sealer.Round(context.Background()); err == nil {
		t.Fatal("a round with the witness down: no error")
	}
	w.down = false
	next := f.another(t) // the next run
	next.Witnesses = []auditseal.Witness{w}
	for range 3 {
		if _, err := next.Round(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if !slices.Equal(w.got, []int64{3, 6}) {
		t.Fatalf("the witness holds sizes %v, want [3 6]", w.got)
	}
	// A witness file: the latest checkpoint once, however many runs.
	path := filepath.Join(t.TempDir(), "cp.jsonl")
	for range 3 {
		s := f.another(t)
		s.Witnesses = []auditseal.Witness{&auditseal.FileWitness{Path: path}}
		if _, err := s.Round(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(raw), "\n"); n != 1 || !strings.Contains(string(raw), `"size":6`) {
		t.Fatalf("the witness file after three runs:\n%s", raw)
	}
}
