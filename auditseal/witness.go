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
	"sync"
)

// FileWitness appends each checkpoint to a file, one JSON line each
// ({"size": N, "checkpoint": "…"}), synced before the round returns: put
// the file where whoever controls the database cannot write (another
// host, write-once storage). ReadCheckpoints reads it back.
type FileWitness struct {
	Path string
	mu   sync.Mutex
}

// Witness appends the checkpoint of a tree of size leaves.
func (w *FileWitness) Witness(_ context.Context, size int64, checkpoint []byte) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	line, err := json.Marshal(witnessLine{Size: size, Checkpoint: string(checkpoint)})
	if err != nil {
		return err
	}
	f, err := os.OpenFile(w.Path, os.O_RDWR|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return err
	}
	if st.Mode().IsRegular() {
		size, err := mendTornEnd(f, st.Size())
		if err != nil {
			f.Close()
			return err
		}
		if _, err := f.Write(append(line, '\n')); err != nil {
			// Nothing half written stays to be appended to.
			_ = f.Truncate(size)
			f.Close()
			return err
		}
	} else if _, err := f.Write(append(line, '\n')); err != nil {
		f.Close()
		return err
	}
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

// mendTornEnd makes a witness file of size bytes end in a whole line
// before a checkpoint is appended, and returns its size then. A last line
// without its newline is an append cut short (a crash, a full disk): it
// is cut off, unless it is a whole checkpoint (a file edited by hand),
// which gets its newline.
func mendTornEnd(f *os.File, size int64) (int64, error) {
	if size == 0 {
		return 0, nil
	}
	tail := make([]byte, min(size, MaxCheckpointBytes+1))
	if _, err := f.ReadAt(tail, size-int64(len(tail))); err != nil {
		return 0, err
	}
	if tail[len(tail)-1] == '\n' {
		return size, nil
	}
	last := tail[bytes.LastIndexByte(tail, '\n')+1:]
	if isWitnessLine(bytes.TrimSpace(last)) {
		_, err := f.Write([]byte{'\n'})
		return size + 1, err
	}
	if bytes.IndexByte(tail, '\n') < 0 && int64(len(tail)) < size {
		return 0, fmt.Errorf("auditseal: %s ends in a line longer than a checkpoint", f.Name())
	}
	cut := size - int64(len(last))
	if err := f.Truncate(cut); err != nil {
		return 0, err
	}
	return cut, nil
}

func isWitnessLine(line []byte) bool {
	var l witnessLine
	return json.Unmarshal(line, &l) == nil && l.Checkpoint != ""
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
// last line without its newline that is no checkpoint is an append cut
// short, and is passed over (FileWitness cuts it off before its next).
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
	torn := false // the token is the input's last line, without its newline
	sc.Split(func(data []byte, atEOF bool) (int, []byte, error) {
		adv, tok, err := bufio.ScanLines(data, atEOF)
		torn = atEOF && tok != nil && adv == len(data) && bytes.IndexByte(data, '\n') < 0
		return adv, tok, err
	})
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
			if torn {
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
