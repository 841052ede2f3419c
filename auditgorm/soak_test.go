package auditgorm_test

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/auditgorm"
	"github.com/go-auditlog/auditlog/auditstore"
	"github.com/go-auditlog/auditlog/auditui"
	"github.com/go-auditlog/auditlog/internal/testdb"
)

var soak = flag.Duration("soak", 3*time.Second, "how long TestSoak runs")

// TestSoak runs mixed writers (row and bulk updates, creates, deletes) and
// readers (history and the admin UI) concurrently on PostgreSQL and
// MariaDB: no error but retried deadlocks, and afterwards every counter's
// entries form one consistent chain ending at its value.
func TestSoak(t *testing.T) {
	long(t)
	for _, name := range testdb.Names() {
		if name == "sqlite" {
			continue
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			db := testdb.Open(t, name)
			reg := setup(t, db, &Counter{})
			must(t, reg.Register(&Counter{}))
			const counters = 8
			for i := 0; i < counters; i++ {
				must(t, db.Create(&Counter{}).Error)
			}
			store, err := auditgorm.NewStore(db)
			must(t, err)
			ui, err := auditui.New(auditui.Config{Store: store, Authorize: func(*http.Request) bool { return true }})
			must(t, err)
			deadline := time.Now().Add(*soak)
			var wg sync.WaitGroup
			var writes, reads, retries atomic.Int64
			errs := make(chan error, 32)
			for w := 0; w < 6; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					rng := rand.New(rand.NewPCG(uint64(w), 7))
					ctx := auditlog.WithActor(context.Background(), auditlog.Actor{ID: fmt.Sprint("writer", w)})
					for time.Now().Before(deadline) {
						id := uint(1 + rng.IntN(counters))
						err := db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
							switch rng.IntN(4) {
							case 0:
								return tx.Model(&Counter{}).Where("id IN ?", []uint{id, id%counters + 1}).Update("n", gorm.Expr("n + 1")).Error
							case 1:
								var c Counter
								if err := tx.Clauses(clause.Locking{Strength: "UPDATE"}).First(&c, id).Error; err != nil {
									return err
								}
								return tx.Model(&c).Update("n", c.N+1).Error
							case 2:
								c := Counter{N: -1}
								if err := tx.Create(&c).Error; err != nil {
									return err
								}
								return tx.Delete(&c).Error
							default:
								return tx.Model(&Counter{ID: id}).Update("n", gorm.Expr("n + 2")).Error
							}
						})
						switch {
						case err == nil:
							writes.Add(1)
						case retryable(err):
							retries.Add(1)
						default:
							errs <- err
							return
						}
					}
				}()
			}
			for r := 0; r < 3; r++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := 0; time.Now().Before(deadline); i++ {
						id := uint(1 + i%counters)
						if _, err := auditgorm.History(context.Background(), db, &Counter{ID: id}, auditstore.Page{Limit: 20}); err != nil {
							errs <- err
							return
						}
						rec := httptest.NewRecorder()
						ui.ServeHTTP(rec, httptest.NewRequest("GET", "/?model=counters&limit=50", nil))
						if rec.Code != 200 {
							errs <- fmt.Errorf("UI: %d %s", rec.Code, rec.Body.String())
							return
						}
						reads.Add(1)
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			// Every counter's update entries chain from 0 to its value.
			var rows []Counter
			must(t, db.Where("id <= ?", counters).Find(&rows).Error)
			chains := map[string]string{}
			for _, e := range entries(t, db) {
				if e.Action != auditlog.ActionUpdate {
					continue
				}
				c := e.Changes["n"]
				prev, ok := chains[e.ObjectPK]
				if !ok {
					prev = "0"
				}
				if string(c.Old) != prev {
					t.Fatalf("counter %s: entry %d says old %s after %s", e.ObjectPK, e.ID, c.Old, prev)
				}
				chains[e.ObjectPK] = string(c.New)
			}
			for _, r := range rows {
				want := "0"
				if v, ok := chains[strconv.Itoa(int(r.ID))]; ok {
					want = v
				}
				if strconv.Itoa(r.N) != want {
					t.Fatalf("counter %d is %d, its entries end at %s", r.ID, r.N, want)
				}
			}
			t.Logf("%d writes, %d reads, %d retried deadlocks or serialization failures", writes.Load(), reads.Load(), retries.Load())
			if writes.Load() == 0 || reads.Load() == 0 {
				t.Fatal("the soak did nothing")
			}
		})
	}
}
