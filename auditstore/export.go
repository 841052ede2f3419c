package auditstore

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/go-auditlog/auditlog"
)

// ExportWriter writes entries as CSV (with a header row) or JSON Lines.
type ExportWriter struct {
	format string
	csv    *csv.Writer
	enc    *json.Encoder
	header bool
}

// NewExportWriter returns a writer for format "csv" or "jsonl".
func NewExportWriter(w io.Writer, format string) (*ExportWriter, error) {
	switch format {
	case "csv":
		cw := csv.NewWriter(w)
		return &ExportWriter{format: format, csv: cw}, nil
	case "jsonl":
		return &ExportWriter{format: format, enc: json.NewEncoder(w)}, nil
	}
	return nil, fmt.Errorf("auditstore: unknown export format %q: use csv or jsonl", format)
}

// ExportRecord is the JSON Lines form of an entry, the one record every
// export (the admin UI's downloads, auditlog export) writes.
type ExportRecord struct {
	ID             int64            `json:"id"`
	Timestamp      string           `json:"timestamp"`
	Action         string           `json:"action"`
	Model          string           `json:"model"`
	ObjectPK       string           `json:"object_pk"`
	ObjectID       *int64           `json:"object_id"`
	ObjectRepr     string           `json:"object_repr"`
	Changes        auditlog.Changes `json:"changes"`
	SerializedData json.RawMessage  `json:"serialized_data,omitempty"`
	AdditionalData json.RawMessage  `json:"additional_data,omitempty"`
	ActorID        string           `json:"actor_id,omitempty"`
	ActorName      string           `json:"actor_name,omitempty"`
	RemoteAddr     string           `json:"remote_addr,omitempty"`
	RemotePort     int              `json:"remote_port,omitempty"`
	CorrelationID  string           `json:"cid,omitempty"`
	// Unreadable is set for a stored entry that did not decode
	// (Entry.Unreadable): the fields it names are empty.
	Unreadable string `json:"unreadable,omitempty"`
}

// NewExportRecord returns e as its export record.
func NewExportRecord(e auditlog.Entry) ExportRecord {
	ts, action := exportTimeAction(&e)
	return ExportRecord{
		ID: e.ID, Timestamp: ts, Action: action, Model: e.Model,
		ObjectPK: e.ObjectPK, ObjectID: e.ObjectID, ObjectRepr: e.ObjectRepr, Changes: e.Changes,
		SerializedData: e.SerializedData, AdditionalData: e.AdditionalData, ActorID: e.ActorID, ActorName: e.ActorName,
		RemoteAddr: e.RemoteAddr, RemotePort: e.RemotePort, CorrelationID: e.CorrelationID, Unreadable: e.Unreadable,
	}
}

// exportTimeAction returns the text of e's time and action, empty for one
// that did not decode (its zero value would read as a time and as create).
func exportTimeAction(e *auditlog.Entry) (ts, action string) {
	if !e.UnreadableColumn("timestamp") {
		ts = e.Timestamp.UTC().Format(time.RFC3339Nano)
	}
	if !e.UnreadableColumn("action") {
		action = e.Action.String()
	}
	return ts, action
}

// csvHeader names the CSV columns. object_id came last, after the others
// had been read by position: without it an integer key 7 and a text key
// "7" were one row.
var csvHeader = []string{"id", "timestamp", "action", "model", "object_pk", "object_repr", "changes", "actor_id", "actor_name", "remote_addr", "remote_port", "cid", "additional_data", "serialized_data", "unreadable", "object_id"}

// Write writes one entry.
func (x *ExportWriter) Write(e auditlog.Entry) error {
	if x.enc != nil {
		return x.enc.Encode(NewExportRecord(e))
	}
	if !x.header {
		x.header = true
		if err := x.csv.Write(csvHeader); err != nil {
			return err
		}
	}
	changes := ""
	if e.Changes != nil {
		raw, err := encodeChanges(e.Changes)
		if err != nil {
			return err
		}
		changes = string(raw)
	}
	objectID := "" // a text key's: none
	if e.ObjectID != nil {
		objectID = strconv.FormatInt(*e.ObjectID, 10)
	}
	port := ""
	if e.RemotePort != 0 {
		port = strconv.Itoa(e.RemotePort)
	}
	// Every cell that holds stored text is guarded, the JSON ones too (a
	// JSON value may be a negative number, which a spreadsheet reads as a
	// formula's start).
	ts, action := exportTimeAction(&e)
	return x.csv.Write([]string{strconv.FormatInt(e.ID, 10), ts, action,
		cellText(e.Model), cellText(e.ObjectPK), cellText(e.ObjectRepr), cellText(changes), cellText(e.ActorID), cellText(e.ActorName),
		cellText(e.RemoteAddr), port, cellText(e.CorrelationID), cellText(string(e.AdditionalData)), cellText(string(e.SerializedData)), cellText(e.Unreadable), cellText(objectID)})
}

// cellText keeps a spreadsheet from reading a value as a formula: at its
// start, and after each character a spreadsheet may split cells or rows
// at (a locale's ';', a tab, a line break), where a quote does not keep it
// from splitting: quotes count only at the start of a cell, and the cell
// split at ';' begins earlier in the line. Spaces there do not count: a
// spreadsheet may trim them. A ' is guarded as well, so that a value that
// has one there does not export as a guarded formula would: "'=1" and "=1"
// stay two.
func cellText(s string) string {
	const formula, splits = "=+-@\t\r'", ";\t\r\n"
	var b strings.Builder
	start, atStart := 0, true
	for i := 0; i < len(s); i++ {
		c := s[i]
		if atStart && strings.IndexByte(formula, c) >= 0 {
			if b.Len() == 0 {
				b.Grow(len(s) + 2)
			}
			b.WriteString(s[start:i])
			b.WriteByte('\'')
			start = i
		}
		switch {
		case strings.IndexByte(splits, c) >= 0:
			atStart = true
		case c != ' ':
			atStart = false
		}
	}
	if start == 0 && b.Len() == 0 {
		return s
	}
	b.WriteString(s[start:])
	return b.String()
}

// Flush writes buffered CSV rows, and the header of a CSV of no entries,
// which is then an empty table rather than no file.
func (x *ExportWriter) Flush() error {
	if x.csv != nil {
		if !x.header {
			x.header = true
			if err := x.csv.Write(csvHeader); err != nil {
				return err
			}
		}
		x.csv.Flush()
		return x.csv.Error()
	}
	return nil
}
