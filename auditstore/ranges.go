package auditstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math"
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
	if ctx == nil {
		return nil, errNilContext
	}
	if len(rs) == 0 {
		return nil, nil
	}
	cond, args := IDRangesSQL(d, rs, 1)
	q := "SELECT " + readColumns[d] + " FROM " + Table + " WHERE " + cond + " ORDER BY id"
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

// A RelayBacklog is how many of some entries a relay has not published.
type RelayBacklog struct {
	Relay   string // the relay's name
	Entries int64
}

// rangesPerStatement bounds the id ranges one count of Unrelayed binds.
const rangesPerStatement = 500

// Relays returns the names of the relays with a saved position (package
// auditrelay), sorted; none where the relays' table does not exist.
func (s *Store) Relays(ctx context.Context) ([]string, error) {
	if ctx == nil {
		return nil, errNilContext
	}
	ok, err := tableExists(ctx, s.db, s.dialect, RelayStateTable)
	if err != nil || !ok {
		return nil, err
	}
	names, err := column[string](ctx, s.db, "SELECT name FROM "+RelayStateTable+" ORDER BY name")
	if err != nil {
		return nil, fmt.Errorf("auditstore: read the relays' names: %w", err)
	}
	return names, nil
}

// Unrelayed returns, for each relay with a saved position (package
// auditrelay), how many of the entries that match f and have an id up to
// maxID (0: any) it has not published yet: those above the highest id it
// published, and those in its gaps (late commits it has yet to find). A
// relay that published them all is left out, and a database without the
// relays' table (migration 4) has none. A flush checks it first: an entry
// deleted before its relay publishes it is never published.
func (s *Store) Unrelayed(ctx context.Context, f Filter, maxID int64) ([]RelayBacklog, error) {
	if ctx == nil {
		return nil, errNilContext
	}
	if maxID == 0 {
		maxID = math.MaxInt64
	}
	ok, err := tableExists(ctx, s.db, s.dialect, RelayStateTable)
	if err != nil || !ok {
		return nil, err
	}
	type position struct {
		name string
		hi   int64
		gaps string
	}
	var ps []position
	rows, err := s.db.QueryContext(ctx, "SELECT name, hi, gaps FROM "+RelayStateTable+" ORDER BY name")
	if err != nil {
		return nil, fmt.Errorf("auditstore: read the relays' positions: %w", err)
	}
	for rows.Next() {
		var p position
		if err := rows.Scan(&p.name, &p.hi, &p.gaps); err != nil {
			rows.Close()
			return nil, fmt.Errorf("auditstore: read the relays' positions: %w", err)
		}
		ps = append(ps, p)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("auditstore: read the relays' positions: %w", err)
	}
	var out []RelayBacklog
	for _, p := range ps {
		// The gaps as package auditrelay keeps them: [from, to, first seen].
		var gaps [][3]int64
		if err := json.Unmarshal([]byte(p.gaps), &gaps); err != nil {
			return nil, fmt.Errorf("auditstore: the saved gaps of relay %s are unreadable: %w", p.name, err)
		}
		var rs []IDRange
		for _, g := range gaps {
			if g[0] <= maxID {
				rs = append(rs, IDRange{From: g[0], To: min(g[1], maxID)})
			}
		}
		if p.hi < maxID {
			rs = append(rs, IDRange{From: p.hi + 1, To: maxID})
		}
		var n int64
		for start := 0; start < len(rs); start += rangesPerStatement {
			q, err := s.filter(f)
			if err != nil {
				return nil, err
			}
			cond, args := IDRangesSQL(s.dialect, rs[start:min(start+rangesPerStatement, len(rs))], len(q.args)+1)
			q.where, q.args = append(q.where, cond), append(q.args, args...)
			c, err := countOf(ctx, s.db, "SELECT COUNT(*) FROM "+Table+q.whereSQL(), q.args...)
			if err != nil {
				return nil, fmt.Errorf("auditstore: count the entries relay %s has not published: %w", p.name, err)
			}
			n += c
		}
		if n > 0 {
			out = append(out, RelayBacklog{Relay: p.name, Entries: n})
		}
	}
	return out, nil
}

// HighestIssuedID returns the highest entry id the database has handed
// out, and whether it knows it: on PostgreSQL the id column's sequence,
// which does not move past an id given by hand, so that an entry above it
// was inserted with its id by someone, not by a writer of the log (whose
// later entries take ids below it). Elsewhere (SQLite, MySQL) the counter
// moves past any id inserted, and it reports false; so it does where the
// role may not read the sequence, and where the sequence has handed out
// nothing since it was set (a fresh table, a RESTART). Read it after the
// entries it is to judge: the sequence is not transactional, and an id
// handed out after the read would be above it.
func HighestIssuedID(ctx context.Context, db DBTX, d Dialect) (int64, bool, error) {
	if d != Postgres {
		return 0, false, nil
	}
	rows, err := db.QueryContext(ctx, "SELECT CASE WHEN has_sequence_privilege(s, 'SELECT') OR has_sequence_privilege(s, 'USAGE') THEN pg_sequence_last_value(s) END FROM (SELECT pg_get_serial_sequence('"+Table+"', 'id')::regclass AS s) x")
	if err != nil {
		return 0, false, fmt.Errorf("read the entries' id sequence: %w", err)
	}
	defer rows.Close()
	var n sql.NullInt64
	if rows.Next() {
		if err := rows.Scan(&n); err != nil {
			return 0, false, fmt.Errorf("read the entries' id sequence: %w", err)
		}
	}
	if err := rows.Err(); err != nil {
		return 0, false, fmt.Errorf("read the entries' id sequence: %w", err)
	}
	return n.Int64, n.Valid, nil
}

// IssuedOnly returns the leading entries of ids (ascending) that are at
// most highest, the highest id handed out, when known.
func IssuedOnly[E any](es []E, id func(E) int64, highest int64, known bool) []E {
	if !known {
		return es
	}
	for i, e := range es {
		if id(e) > highest {
			return es[:i]
		}
	}
	return es
}
