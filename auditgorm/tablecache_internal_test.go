package auditgorm

import (
	"fmt"
	"testing"

	"gorm.io/gorm"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/internal/testdb"
)

type tcItem struct {
	ID   uint
	Name string
}

// Writes of one model to many tables (Table(name), a table per tenant)
// grew the plugin's per-table caches for good: they are emptied whole
// past their bound, and read again where needed.
func TestTableCachesAreBounded(t *testing.T) {
	was := tableCacheMax
	tableCacheMax = 5
	t.Cleanup(func() { tableCacheMax = was })
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		reg := auditlog.NewRegistry()
		p := New(Config{Registry: reg})
		if err := db.Use(p); err != nil {
			t.Fatal(err)
		}
		if err := reg.Register(&tcItem{}); err != nil {
			t.Fatal(err)
		}
		for i := range 20 {
			table := fmt.Sprintf("tc_items_%d", i)
			if err := db.Table(table).AutoMigrate(&tcItem{}); err != nil {
				t.Fatal(err)
			}
			if err := db.Table(table).Create(&tcItem{Name: "a"}).Error; err != nil {
				t.Fatal(err)
			}
			if err := db.Table(table).Where("id = ?", 1).Updates(map[string]any{"name": "b"}).Error; err != nil {
				t.Fatal(err)
			}
		}
		for name, c := range map[string]*tableCache{"uniques": &p.uniques, "casts": &p.casts, "sqliteTables": &p.sqliteTables, "pgPlans": &p.pgPlans.m, "pairLocks": &p.pairLocks} {
			n := 0
			c.m.Range(func(any, any) bool { n++; return true })
			if n > 5 || c.n.Load() != int64(n) {
				t.Errorf("%s holds %d tables (counted %d), past its bound of 5", name, n, c.n.Load())
			}
		}
	})
}

func TestTableCache(t *testing.T) {
	was := tableCacheMax
	tableCacheMax = 3
	t.Cleanup(func() { tableCacheMax = was })
	var c tableCache
	for i := range 10 {
		c.Store(i, i)
		c.Store(i, i) // again: no other table
		if c.n.Load() > 3 {
			t.Fatalf("%d tables after %d stores", c.n.Load(), i+1)
		}
		if v, ok := c.Load(i); !ok || v != i {
			t.Fatalf("the table just stored is gone: %v %v", v, ok)
		}
	}
	c.Delete(9)
	c.Delete(9)
	if _, ok := c.Load(9); ok || c.n.Load() < 0 {
		t.Fatalf("after Delete: %d", c.n.Load())
	}
}
