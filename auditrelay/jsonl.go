package auditrelay

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/auditstore"
	"github.com/go-auditlog/auditlog/internal/lines"
)

// JSONL is a Sink that writes each entry as one line of JSON, the record
// `auditlog export --format jsonl` writes, for log shippers (Vector,
// Fluent Bit) that tail a file or read a pipe.
//
// A line is written at least once: after a crash, the entries of the round
// the relay did not save are written again. A reader that must see each
// entry once keeps the highest ids it has seen per object, or the set of
// ids, and drops a repeated "id".
type JSONL struct {
	w    io.Writer
	name string
	buf  *bufio.Writer
	// torn: a write failed, and may have left part of a line in w.
	torn bool
}

// NewJSONL returns a sink that writes to w, whose relay position is kept
// under name (e.g. "jsonl:/var/log/audit.jsonl"). When w is a regular
// file, each round's lines are synced to disk before the round saves its
// position.
func NewJSONL(w io.Writer, name string) *JSONL {
	return &JSONL{w: w, name: name, buf: bufio.NewWriterSize(w, 64<<10)}
}

// Name returns the name NewJSONL was given.
func (j *JSONL) Name() string { return j.name }

// Publish writes entries as lines and flushes (and syncs) them.
func (j *JSONL) Publish(ctx context.Context, entries []auditlog.Entry) error {
	// Each line is encoded whole first, and the buffer goes to w only
	// between lines: a round stopped in the middle leaves whole lines,
	// after which the next round's lines stay readable.
	if err := j.mendTornLine(); err != nil {
		return err
	}
	var line bytes.Buffer
	enc := json.NewEncoder(&line)
	for _, e := range entries {
		if err := ctx.Err(); err != nil {
			j.buf.Reset(j.w)
			return err
		}
		line.Reset()
		if err := enc.Encode(auditstore.NewExportRecord(e)); err != nil {
			j.buf.Reset(j.w)
			return fmt.Errorf("entry %d: %w", e.ID, err)
		}
		if j.buf.Buffered() > 0 && j.buf.Available() < line.Len() {
			if err := j.buf.Flush(); err != nil {
				j.buf.Reset(j.w)
				j.torn = true
				return err
			}
		}
		// A line longer than the buffer goes to w in one write.
		if _, err := j.buf.Write(line.Bytes()); err != nil {
			j.buf.Reset(j.w)
			j.torn = true
			return err
		}
	}
	if err := j.buf.Flush(); err != nil {
		// A bufio.Writer keeps its error: the next round starts afresh.
		j.buf.Reset(j.w)
		j.torn = true
		return err
	}
	if f, ok := j.w.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() {
			return f.Sync()
		}
	}
	return nil
}

// mendTornLine ends a line a failed write (a full disk) or a crash left
// without its newline, before a round's lines: otherwise the round's first
// line would be glued to it, and neither would read. The part written
// stays, as a line of its own that is no record; the round writes its
// entries whole after it. A regular file that can be read is looked at;
// otherwise a failed write of this sink's is what tells.
func (j *JSONL) mendTornLine() error {
	torn := j.torn
	if f, ok := j.w.(*os.File); ok {
		if open, known := lines.EndsOpen(f); known {
			torn = open
		}
	}
	if !torn {
		j.torn = false
		return nil
	}
	if _, err := j.w.Write([]byte{'\n'}); err != nil {
		return err
	}
	j.torn = false
	return nil
}
