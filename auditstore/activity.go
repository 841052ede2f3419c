package auditstore

import (
	"context"
	"fmt"
	"strconv"
	"time"
)

// CountSpans counts the entries that match f in each span [bounds[i],
// bounds[i+1]) (within f's own Since and Until), at most limit per span: a
// count of limit means "limit or more". The cost is bounded by
// limit × spans rows whatever the table holds, which is what lets a page
// show an activity strip over millions of entries.
func (s *Store) CountSpans(ctx context.Context, f Filter, bounds []time.Time, limit int) ([]int64, error) {
	if limit < 1 {
		return nil, fmt.Errorf("auditstore: count limit %d is not positive", limit)
	}
	if len(bounds) < 2 {
		return nil, nil
	}
	out := make([]int64, len(bounds)-1)
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
		q, err := s.filter(span)
		if err != nil {
			return nil, err
		}
		sqlText := "SELECT COUNT(*) FROM (SELECT 1 AS one FROM " + Table + q.whereSQL() + " LIMIT " + strconv.Itoa(limit) + ") capped"
		rows, err := s.db.QueryContext(ctx, sqlText, q.args...)
		if err != nil {
			return nil, queryErr(ctx, "count entries", err)
		}
		if rows.Next() {
			err = rows.Scan(&out[i])
		}
		if cerr := rows.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = rows.Err()
		}
		if err != nil {
			return nil, queryErr(ctx, "count entries", err)
		}
	}
	return out, nil
}
