package auditstore

import (
	"context"
	"time"
)

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

// EnsurePartitionsAt is EnsurePartitions as if now were the time given, so
// that tests can make the partitions of past months.
func EnsurePartitionsAt(ctx context.Context, s *Store, now time.Time, ahead int) (made int, moved int64, err error) {
	err = s.inTx(ctx, func(tx DBTX) error {
		made, moved, err = ensurePartitions(ctx, tx, now, ahead)
		return err
	})
	return made, moved, err
}

// SetSettleWithin shortens how long s's CountMax waits for the
// transactions writing entries, for the test of its refusal.
func SetSettleWithin(s *Store, d time.Duration) { s.settleWithin = d }

// SetObjectEntriesMaxBytes sets ObjectEntries' bound of bytes until the
// returned function puts it back.
func SetObjectEntriesMaxBytes(n int) (restore func()) {
	was := objectEntriesMaxBytes
	objectEntriesMaxBytes = n
	return func() { objectEntriesMaxBytes = was }
}

// SetListMaxBytes sets List's bound of bytes until the returned function
// puts it back.
func SetListMaxBytes(n int) (restore func()) {
	was := listMaxBytes
	listMaxBytes = n
	return func() { listMaxBytes = was }
}
