package auditgorm_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/auditgorm"
	"github.com/go-auditlog/auditlog/internal/testdb"
)

// An object's states follow its entries in id order, the order its writes
// held its row, whatever the clocks that dated them: two application
// servers whose clocks differ by ten seconds made the later write's entry
// the earlier, and time travel showed the first value as the current one.
func TestStatesFollowTheEntriesWhateverTheClocks(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		reg := auditlog.NewRegistry()
		var skew atomic.Int64
		skew.Store(int64(10 * time.Second))
		must(t, db.Use(auditgorm.New(auditgorm.Config{Registry: reg, Now: func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }})))
		must(t, db.AutoMigrate(&Ctr{}))
		must(t, reg.Register(&Ctr{}))
		ctx := context.Background()
		c := Ctr{ID: 1, N: 1}
		must(t, db.Create(&c).Error) // a server ten seconds ahead
		skew.Store(0)
		must(t, db.Model(&c).Update("n", 2).Error) // a server on time, after it
		got := Ctr{ID: 1}
		if _, err := auditgorm.AsOf(ctx, db, &got, time.Now().Add(time.Minute)); err != nil || got.N != 2 {
			t.Fatalf("AsOf a minute on: n=%d (%v), the table holds 2", got.N, err)
		}
		tl, err := auditgorm.Timeline(ctx, db, &Ctr{ID: 1})
		must(t, err)
		if last := tl[len(tl)-1]; string(last.Values["n"]) != "2" {
			t.Fatalf("the timeline's last state: n=%s, the table holds 2", last.Values["n"])
		}
	})
}
