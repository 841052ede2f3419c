package auditseal

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/go-auditlog/auditlog/internal/lines"
)

// FileWitness appends each checkpoint to a file, one JSON line each
// ({"size": N, "checkpoint": "…"}), synced before the round returns: put
// the file where whoever controls the database cannot write (another
// host, write-once storage). ReadCheckpoints reads it back.
type FileWitness struct {
	Path string
	mu   sync.Mutex
	// torn: an append of this witness failed, and may have left part of
	// a line.
	torn bool
}

// Witness appends the checkpoint of a tree of size leaves.
func (w *FileWitness) Witness(_ context.Context, size int64, checkpoint []byte) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	line, err := json.Marshal(witnessLine{Size: size, Checkpoint: string(checkpoint)})
	if err != nil {
		return err
	}
	// A regular file is opened to be read as well, to see whether an
	// append cut short (a crash, a full disk) left its last line without
	// a newline; one that may only be written (a drop box), a FIFO or a
	// pipe (>(ship-it)) write-only, as they must be.
	mode := os.O_WRONLY
	if st, err := os.Stat(w.Path); errors.Is(err, os.ErrNotExist) || err == nil && st.Mode().IsRegular() {
		mode = os.O_RDWR
	}
	f, err := os.OpenFile(w.Path, mode|os.O_APPEND|os.O_CREATE, 0o644)
	if mode == os.O_RDWR && errors.Is(err, os.ErrPermission) {
		f, err = os.OpenFile(w.Path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	}
	if err != nil {
		return err
	}
	if open, _ := lines.EndsOpen(f); open || w.torn {
		// The torn line ends here, as a line of its own that
		// ReadCheckpoints passes over; cutting it off would need a file
		// that can be truncated, which write-once storage is not.
		line = append([]byte{'\n'}, line...)
	}
	if _, err := f.Write(append(line, '\n')); err != nil {
		w.torn = true
		f.Close()
		return err
	}
	w.torn = false
	// A regular file is synced, so that a crash does not take the
	// checkpoint back; a pipe or a FIFO (>(ship-it)) has nothing to sync.
	if st, err := f.Stat(); err == nil && st.Mode().IsRegular() {
		if err := f.Sync(); err != nil {
			f.Close()
			return err
		}
	}
	return f.Close()
}

// Holds reports whether the file's last line is the checkpoint (a file
// that cannot be read, a FIFO or a drop box, holds nothing it can tell).
func (w *FileWitness) Holds(_ context.Context, checkpoint []byte) (bool, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	// A checkpoint's second line is its tree's size.
	parts := strings.SplitN(string(checkpoint), "\n", 3)
	if len(parts) < 3 {
		return false, nil
	}
	size, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil {
		return false, nil
	}
	line, err := json.Marshal(witnessLine{Size: size, Checkpoint: string(checkpoint)})
	if err != nil {
		return false, nil
	}
	// Only a regular file is opened: opening a FIFO to read would wait
	// for a writer.
	if st, err := os.Stat(w.Path); err != nil || !st.Mode().IsRegular() {
		return false, nil
	}
	f, err := os.Open(w.Path)
	if err != nil {
		return false, nil
	}
	defer f.Close()
	return !w.torn && endsWithLine(f, line), nil
}

// endsWithLine reports whether the file f's last line is line (read from
// its end: no more than the line).
func endsWithLine(f *os.File, line []byte) bool {
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() || st.Size() < int64(len(line))+1 {
		return false
	}
	n := int64(len(line)) + 2 // the newline before it, and its own
	from := st.Size() - n
	if from < 0 {
		from, n = 0, n-1
	}
	buf := make([]byte, n)
	if _, err := f.ReadAt(buf, from); err != nil {
		return false
	}
	if from > 0 {
		if buf[0] != '\n' {
			return false
		}
		buf = buf[1:]
	}
	return bytes.Equal(buf, append(slices.Clip(line), '\n'))
}

// tornLine reports whether line, which is no checkpoint, is one an append
// cut short left: the beginning of a FileWitness line, cut.
func tornLine(line []byte, err error) bool {
	var se *json.SyntaxError
	return bytes.HasPrefix(line, []byte(`{"size":`)) && errors.As(err, &se) && se.Error() == "unexpected end of JSON input"
}

type witnessLine struct {
	Size       int64  `json:"size"`
	Checkpoint string `json:"checkpoint"`
}

// The largest checkpoints ReadCheckpoints reads. A signed checkpoint is a
// few hundred bytes; a witness file grows by one line a sealing round.
const (
	// MaxCheckpointBytes bounds one checkpoint: the signed note alone, or
	// one line of a witness file.
	MaxCheckpointBytes = 1 << 20
	// MaxWitnessFileBytes bounds a witness file: some three million
	// checkpoints.
	MaxWitnessFileBytes = 1 << 30
)

// ErrNoCheckpoint is ReadCheckpoints' error for input that holds none
// (an empty file).
var ErrNoCheckpoint = errors.New("auditseal: no checkpoint")

// TooLargeError is ReadCheckpoints' error for input past its limits.
type TooLargeError struct {
	Limit int64
	What  string // what the limit is for: "one checkpoint", "a witness file"
}

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("auditseal: larger than %d bytes, the most %s may take", e.Limit, e.What)
}

// ReadCheckpoints reads checkpoints kept outside the database: a file a
// FileWitness wrote (JSON lines), or one checkpoint as the database stores
// it (a signed note, as `auditlog prove` prints it in a proof). It reads
// as it goes: one checkpoint of more than MaxCheckpointBytes (a file such
// as /dev/zero), a line of a witness file that is not a checkpoint, and a
// witness file of more than MaxWitnessFileBytes stop it with an error. A
// line that is the beginning of a checkpoint's line, cut, is an append a
// crash or a full disk cut short, and is passed over.
func ReadCheckpoints(r io.Reader) ([][]byte, error) {
	lr := &io.LimitedReader{R: r, N: MaxWitnessFileBytes + 1}
	br := bufio.NewReaderSize(lr, 64<<10)
	// Leading whitespace, up to the first byte that tells the form.
	var lead []byte
	for {
		c, err := br.ReadByte()
		if err == io.EOF {
			return nil, ErrNoCheckpoint
		}
		if err != nil {
			return nil, err
		}
		if c == '{' {
			_ = br.UnreadByte()
			break
		}
		if !isSpace(c) {
			// One signed note, as it is.
			lead = append(lead, c)
			rest, err := io.ReadAll(io.LimitReader(br, int64(MaxCheckpointBytes+1-len(lead))))
			if err != nil {
				return nil, err
			}
			raw := append(lead, rest...)
			if len(raw) > MaxCheckpointBytes {
				return nil, &TooLargeError{MaxCheckpointBytes, "one checkpoint"}
			}
			return [][]byte{raw}, nil
		}
		if lead = append(lead, c); len(lead) > MaxCheckpointBytes {
			return nil, &TooLargeError{MaxCheckpointBytes, "one checkpoint"}
		}
	}
	var out [][]byte
	sc := bufio.NewScanner(br)
	// A line of MaxCheckpointBytes and its newline fits: the scanner
	// wants room for the newline as well.
	sc.Buffer(make([]byte, 64<<10), MaxCheckpointBytes+1)
	for n := 1 + bytes.Count(lead, []byte("\n")); sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var l witnessLine
		if err := json.Unmarshal(line, &l); err != nil || l.Checkpoint == "" {
			if lr.N == 0 { // the line cut at the limit
				return nil, &TooLargeError{MaxWitnessFileBytes, "a witness file"}
			}
			if tornLine(line, err) {
				continue
			}
			return nil, fmt.Errorf("auditseal: line %d is not a checkpoint a FileWitness wrote", n)
		}
		out = append(out, []byte(l.Checkpoint))
	}
	if err := sc.Err(); errors.Is(err, bufio.ErrTooLong) {
		return nil, &TooLargeError{MaxCheckpointBytes, "one checkpoint"}
	} else if err != nil {
		return nil, err
	}
	if lr.N == 0 {
		return nil, &TooLargeError{MaxWitnessFileBytes, "a witness file"}
	}
	if len(out) == 0 {
		return nil, ErrNoCheckpoint
	}
	return out, nil
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'
}
