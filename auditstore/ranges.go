package auditstore

import (
	"context"
	"fmt"
	"strings"

	"github.com/go-auditlog/auditlog"
)

// RelayStateTable holds each relay's position (migration 4, package
// auditrelay).
const RelayStateTable = "auditlog_relay_state"

// IDRange is the entry ids From to To, both included.
type IDRange struct{ From, To int64 }

// IDRangesSQL returns the condition that an entry's id is in one of rs
// (which must not be empty), with its arguments, numbered from first (the
// placeholder of the first argument is d.Placeholder(first)).
func IDRangesSQL(d Dialect, rs []IDRange, first int) (string, []any) {
	var b strings.Builder
	args := make([]any, 0, 2*len(rs))
	b.WriteByte('(')
	for i, r := range rs {
		if i > 0 {
			b.WriteString(" OR ")
		}
		if r.From == r.To {
			args = append(args, r.From)
			b.WriteString("id = " + d.Placeholder(first+len(args)-1))
			continue
		}
		args = append(args, r.From, r.To)
		b.WriteString("id BETWEEN " + d.Placeholder(first+len(args)-2) + " AND " + d.Placeholder(first+len(args)-1))
	}
	b.WriteByte(')')
	return b.String(), args
}

// EntriesIn reads the entries whose ids are in rs, in id order, at most
// limit of them (0: all). It reads with db as it is: in a transaction, the
// transaction's view.
func EntriesIn(ctx context.Context, db DBTX, d Dialect, rs []IDRange, limit int) ([]auditlog.Entry, error) {
	if len(rs) == 0 {
		return nil, nil
	}
	cond, args := IDRangesSQL(d, rs, 1)
	q := "SELECT " + selectColumns + " FROM " + Table + " WHERE " + cond + " ORDER BY id"
	if limit > 0 {
		q += fmt.Sprintf(" LIMIT %d", limit)
	}
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("auditstore: read entries: %w", err)
	}
	defer rows.Close()
	var out []auditlog.Entry
	for rows.Next() {
		e, err := scanEntry(d, rows)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("auditstore: read entries: %w", err)
	}
	return out, nil
}
