package auditstore

// ListSQL exposes List's statement to the tests that EXPLAIN it.
func ListSQL(s *Store, f Filter, p Page) (string, []any, error) {
	sqlText, args, _, err := s.listSQL(f, p)
	return sqlText, args, err
}
