package auditseal

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
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
	f, err := os.OpenFile(w.Path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(append(line, '\n')); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

type witnessLine struct {
	Size       int64  `json:"size"`
	Checkpoint string `json:"checkpoint"`
}

// ReadCheckpoints reads checkpoints kept outside the database: a file a
// FileWitness wrote (JSON lines), or one checkpoint as the database stores
// it (a signed note, as `auditlog prove` prints it in a proof).
func ReadCheckpoints(r io.Reader) ([][]byte, error) {
	raw, err := io.ReadAll(io.LimitReader(r, 1<<30))
	if err != nil {
		return nil, err
	}
	if !bytes.HasPrefix(bytes.TrimSpace(raw), []byte("{")) {
		if len(bytes.TrimSpace(raw)) == 0 {
			return nil, fmt.Errorf("auditseal: no checkpoint")
		}
		return [][]byte{raw}, nil
	}
	var out [][]byte
	sc := bufio.NewScanner(bytes.NewReader(raw))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var l witnessLine
		if err := json.Unmarshal(line, &l); err != nil || l.Checkpoint == "" {
			return nil, fmt.Errorf("auditseal: line %d is not a checkpoint a FileWitness wrote", n)
		}
		out = append(out, []byte(l.Checkpoint))
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("auditseal: no checkpoint")
	}
	return out, nil
}
