package auditui_test

import (
	"context"
	"database/sql"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/go-auditlog/auditlog/auditstore"
	"github.com/go-auditlog/auditlog/auditui"
	"github.com/go-auditlog/auditlog/internal/testdb"
)

// slowDB runs a slow statement before every query, with the query's
// context, so that the UI's deadline fires while the database works and the
// driver reports it its own way.
type slowDB struct {
	*sql.DB
	slow string
}

func (s slowDB) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	rows, err := s.DB.QueryContext(ctx, s.slow)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
	}
	if err := rows.Err(); err != nil {
		rows.Close()
		return nil, err
	}
	rows.Close()
	return s.DB.QueryContext(ctx, query, args...)
}

// A query that outlives Config.QueryTimeout is answered with a 503 page
// that asks for a narrower filter, on every page and every database: when
// the deadline has passed before the query starts, and when it fires while
// the database works on it.
func TestQueryTimeoutIs503(t *testing.T) {
	slow := map[string]string{
		"sqlite":   "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 300000) SELECT count(*) FROM c", // the driver cannot interrupt a statement while rows are read: keep it short
		"postgres": "SELECT pg_sleep(30)",
		"mysql":    "SELECT SLEEP(1)", // MariaDB finishes a statement whose connection was closed: keep it short
	}
	targets := []string{"/", "/?model=books&q=Dune", "/history?obj=books:1", "/entries/1", "/export?format=csv", "/export?format=jsonl&model=books"}
	for _, name := range testdb.Names() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s, db := fixtureWithDB(t, name)
			for _, tc := range []struct {
				timeout time.Duration
				store   *auditstore.Store
			}{
				{time.Nanosecond, s},
				{20 * time.Millisecond, slowStore(t, db, s.Dialect(), slow[name])},
			} {
				h := newUI(t, tc.store, auditui.Config{QueryTimeout: tc.timeout})
				for _, target := range targets {
					rec := get(h, "GET", target)
					body := rec.Body.String()
					if rec.Code != http.StatusServiceUnavailable || !strings.Contains(body, "took longer than") || strings.Contains(body, "Dune") {
						t.Fatalf("timeout %s, %s: %d\n%s", tc.timeout, target, rec.Code, body)
					}
				}
			}
			// The default leaves room for real queries.
			if rec := get(newUI(t, s, auditui.Config{}), "GET", "/"); rec.Code != 200 {
				t.Fatalf("default timeout: %d", rec.Code)
			}
		})
	}
	if _, err := auditui.New(auditui.Config{Store: fixture(t), QueryTimeout: -time.Second}); err == nil {
		t.Fatal("a negative QueryTimeout is accepted")
	}
}

func slowStore(t *testing.T, db *sql.DB, d auditstore.Dialect, slow string) *auditstore.Store {
	t.Helper()
	out, err := auditstore.New(slowDB{DB: db, slow: slow}, d)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
