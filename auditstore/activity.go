package auditstore

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// CountSpans counts the entries that match f in each span [bounds[i],
// bounds[i+1]) (within f's own Since and Until), up to limit+1 per span: a
// count above limit means "more than limit". One statement reads at most
// (limit+1) × spans index entries whatever the table holds, newest first
// along the indexes the list pages use, which is what lets a page show an
// activity strip over millions of entries.
func (s *Store) CountSpans(ctx context.Context, f Filter, bounds []time.Time, limit int) ([]int64, error) {
	if ctx == nil {
		return nil, errNilContext
	}
	if limit < 1 {
		return nil, fmt.Errorf("auditstore: count limit %d is not positive", limit)
	}
	if len(bounds) < 2 {
		return nil, nil
	}
	out := make([]int64, len(bounds)-1)
	q := &queryBuilder{d: s.dialect}
	var parts []string
	for i := range out {
		span := f
		if span.Since.IsZero() || bounds[i].After(span.Since) {
			span.Since = bounds[i]
		}
		if span.Until.IsZero() || bounds[i+1].Before(span.Until) {
			span.Until = bounds[i+1]
		}
		if !span.Since.Before(span.Until) {
			continue
		}
		sub := &queryBuilder{d: s.dialect, args: q.args}
		if _, err := s.filterOn(sub, span); err != nil {
			return nil, err
		}
		q.args = sub.args
		parts = append(parts, "SELECT "+strconv.Itoa(i)+" AS span, COUNT(*) AS n FROM (SELECT 1 AS one FROM "+Table+sub.whereSQL()+
			" ORDER BY timestamp DESC, id DESC LIMIT "+strconv.Itoa(limit+1)+") c"+strconv.Itoa(i))
	}
	if len(parts) == 0 {
		return out, nil
	}
	rows, err := s.db.QueryContext(ctx, strings.Join(parts, " UNION ALL "), q.args...)
	if err != nil {
		return nil, queryErr(ctx, "count entries", err)
	}
	defer rows.Close()
	for rows.Next() {
		var i int
		var n int64
		if err := rows.Scan(&i, &n); err != nil {
			return nil, queryErr(ctx, "count entries", err)
		}
		if i >= 0 && i < len(out) {
			out[i] = n
		}
	}
	if err := rows.Err(); err != nil {
		return nil, queryErr(ctx, "count entries", err)
	}
	return out, nil
}

// ModelCount is how many entries of one model a CountModels read.
type ModelCount struct {
	Model   string
	Entries int64
	Latest  time.Time // the newest of them; zero when its time is unreadable
}

// CountModels counts, by model, the newest limit entries that match f (an
// actor's, say), most entries first; all is false when there are more. The
// cost is bounded by limit.
func (s *Store) CountModels(ctx context.Context, f Filter, limit int) (counts []ModelCount, all bool, err error) {
	if ctx == nil {
		return nil, false, errNilContext
	}
	if limit < 1 {
		return nil, false, fmt.Errorf("auditstore: count limit %d is not positive", limit)
	}
	q, err := s.filter(f)
	if err != nil {
		return nil, false, err
	}
	// MySQL's collation groups "a" with "a ": there the models are grouped
	// by their bytes.
	model := "model"
	if s.dialect == MySQL {
		model = "BINARY model AS model"
	}
	sqlText := "SELECT model, COUNT(*), " + TimeColumn(s.dialect, "MAX(timestamp)") + " FROM (SELECT " + model + ", timestamp FROM " + Table + q.whereSQL() +
		" ORDER BY timestamp DESC, id DESC LIMIT " + strconv.Itoa(limit) + ") newest GROUP BY model"
	rows, err := s.db.QueryContext(ctx, sqlText, q.args...)
	if err != nil {
		return nil, false, queryErr(ctx, "count entries by model", err)
	}
	defer rows.Close()
	var total int64
	for rows.Next() {
		var c ModelCount
		var ts any
		if err := rows.Scan(&c.Model, &c.Entries, &ts); err != nil {
			return nil, false, queryErr(ctx, "count entries by model", err)
		}
		// An unreadable time (Entry.Unreadable) leaves Latest zero. SQLite's
		// driver may hand the aggregate of the stored text over as a time.
		if t, ok := ts.(time.Time); ok && s.dialect == SQLite {
			ts = t.UTC().Format(sqliteTime)
		}
		c.Latest, _ = entryTime(s.dialect, ts)
		total += c.Entries
		counts = append(counts, c)
	}
	if err := rows.Err(); err != nil {
		return nil, false, queryErr(ctx, "count entries by model", err)
	}
	slices.SortFunc(counts, func(a, b ModelCount) int {
		return cmp.Or(cmp.Compare(b.Entries, a.Entries), strings.Compare(a.Model, b.Model))
	})
	if total < int64(limit) {
		return counts, true, nil
	}
	// Exactly limit read: is there one more?
	more, err := s.db.QueryContext(ctx, "SELECT 1 FROM "+Table+q.whereSQL()+" ORDER BY timestamp DESC, id DESC LIMIT 1 OFFSET "+strconv.Itoa(limit), q.args...)
	if err != nil {
		return nil, false, queryErr(ctx, "count entries by model", err)
	}
	defer more.Close()
	beyond := more.Next()
	if err := more.Err(); err != nil {
		return nil, false, queryErr(ctx, "count entries by model", err)
	}
	return counts, !beyond, nil
}
