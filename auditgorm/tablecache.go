package auditgorm

import (
	"sync"
	"sync/atomic"
)

// tableCacheMax bounds the tables a tableCache keeps: an application that
// writes one model to many tables (a table per tenant or per day, through
// Table(name)) grew the plugin's caches by a few hundred bytes to two
// kilobytes per table for good.
var tableCacheMax int64 = 4096

// A tableCache is a sync.Map of what the plugin read of each table (its
// unique indexes, column casts, SQLite constraints, PostgreSQL plans),
// emptied whole when it would hold more than tableCacheMax tables: what it
// held is read again where needed, as after DDL.
type tableCache struct {
	m sync.Map
	n atomic.Int64
}

func (c *tableCache) Load(key any) (any, bool) { return c.m.Load(key) }

func (c *tableCache) Store(key, value any) {
	if _, had := c.m.Swap(key, value); had {
		return
	}
	if c.n.Add(1) > tableCacheMax {
		c.Clear()
		c.m.Store(key, value)
		c.n.Add(1)
	}
}

func (c *tableCache) Delete(key any) {
	if _, had := c.m.LoadAndDelete(key); had {
		c.n.Add(-1)
	}
}

// Clear empties the cache.
func (c *tableCache) Clear() {
	c.m.Clear()
	c.n.Store(0)
}
