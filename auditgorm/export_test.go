package auditgorm

import (
	"time"

	"gorm.io/gorm"

	"github.com/go-auditlog/auditlog/auditstore"
)

// SetUniquesMaxAge sets how long p serves MySQL unique indexes it read.
func SetUniquesMaxAge(p *Plugin, d time.Duration) *Plugin { p.uniquesMaxAge = d; return p }

// SetTestHookUnpinned makes fn run on the transaction between the read and
// an unpinned update (nil removes it).
func SetTestHookUnpinned(fn func(gorm.ConnPool)) { testHookUnpinned = fn }

// NoSQLEntries makes p build every entry in Go, as on SQLite and MariaDB
// (Config.SeparateEntries).
func NoSQLEntries(p *Plugin) *Plugin { p.noSQLEntries = true; return p }

// SetTestHookSQLEntries makes fn run after each statement that wrote its
// own entries, with the rows it left to the client (nil removes it).
func SetTestHookSQLEntries(fn func(written int64, left int)) { testHookSQLEntries = fn }

// PreparedTexts lists the texts p holds prepared, on every pool.
func PreparedTexts(p *Plugin) []string {
	var out []string
	p.prepared.caches.Range(func(_, v any) bool {
		v.(*stmtCache).stmts.Range(func(k, _ any) bool {
			out = append(out, k.(string))
			return true
		})
		return true
	})
	return out
}

// PreparedTried returns how many texts failed to prepare, over p's pools.
func PreparedTried(p *Plugin) int {
	n := 0
	p.prepared.caches.Range(func(_, v any) bool {
		c := v.(*stmtCache)
		c.mu.Lock()
		n += len(c.tries)
		c.mu.Unlock()
		return true
	})
	return n
}

// ReadUniqueIndexes reads the unique indexes of the tables into the cache
// of the plugin on db, as an upsert's first use of each does: tests that
// count a path's statements in steady state call it first.
func ReadUniqueIndexes(db *gorm.DB, tables ...string) error {
	p := pluginOf(db)
	for _, t := range tables {
		if _, err := p.uniqueIndexes(db, t); err != nil {
			return err
		}
		if p.dialect == auditstore.SQLite {
			if _, err := p.sqliteReplaces(db, t); err != nil {
				return err
			}
		}
	}
	return nil
}

// KeepCatalogReads makes the plugin of db serve what it read of tables'
// unique indexes and constraints for an hour: a test's steady state.
func KeepCatalogReads(db *gorm.DB) {
	p := pluginOf(db)
	p.uniquesMaxAge, p.sqliteReplacesMaxAge = time.Hour, time.Hour
}
