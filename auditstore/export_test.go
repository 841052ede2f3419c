package auditstore

import "context"

// ListSQL exposes List's statement to the tests that EXPLAIN it, with the
// window a search would read now.
func ListSQL(ctx context.Context, s *Store, f Filter, p Page) (string, []any, error) {
	var end *cursor
	if f.Search != "" && p.SearchWindow > 0 {
		var err error
		if end, err = s.searchWindowEnd(ctx, f, p); err != nil {
			return "", nil, err
		}
	}
	sqlText, args, _, err := s.listSQL(f, p, end)
	return sqlText, args, err
}
