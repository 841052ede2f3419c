package auditseal_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/auditgorm"
	"github.com/go-auditlog/auditlog/auditstore"
	"github.com/go-auditlog/auditlog/internal/testdb"
)

// Shelf is the audited model of TestSealGORMWorkload.
type Shelf struct {
	ID    uint
	Name  string
	Books int
}

// TestSealGORMWorkload seals the entries of an audited GORM workload
// (creates, batch creates, updates, bulk updates, deletes, rollbacks) by 4
// concurrent writers (1 on SQLite), with one transaction held open across
// sealing rounds, while a sealer runs: every committed entry is sealed
// exactly once and the log verifies.
func TestSealGORMWorkload(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		f := open(t, db)
		reg := auditlog.NewRegistry()
		if err := db.Use(auditgorm.New(auditgorm.Config{Registry: reg})); err != nil {
			t.Fatal(err)
		}
		if err := db.AutoMigrate(&Shelf{}); err != nil {
			t.Fatal(err)
		}
		if err := reg.Register(&Shelf{}); err != nil {
			t.Fatal(err)
		}
		concurrent := f.d != auditstore.SQLite
		var held *gorm.DB
		heldDone := make(chan error, 1)
		if concurrent {
			// Open across many sealing rounds (one every few ms), short
			// enough for the writers its locks hold up to wait.
			held = db.Begin()
			if err := held.Create(&Shelf{Name: "held"}).Error; err != nil {
				t.Fatal(err)
			}
			go func() {
				time.Sleep(300 * time.Millisecond)
				heldDone <- held.Commit().Error
			}()
		} else {
			heldDone <- nil
		}
		writers := 1
		if concurrent {
			writers = 4
		}
		ctx, cancel := context.WithCancel(context.Background())
		sealed := make(chan error, 1)
		go func() {
			for ctx.Err() == nil {
				if _, err := f.sealer.Round(ctx); err != nil && ctx.Err() == nil {
					sealed <- err
					return
				}
				time.Sleep(5 * time.Millisecond)
			}
			sealed <- nil
		}()
		var wg sync.WaitGroup
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := rand.New(rand.NewPCG(seed, uint64(w)))
				for i := 0; i < 40; i++ {
					var err error
					switch r.IntN(6) {
					case 0:
						err = db.Create(&Shelf{Name: fmt.Sprint("s", w, i)}).Error
					case 1:
						err = db.Create([]*Shelf{{Name: "a"}, {Name: "b"}, {Name: "c"}}).Error
					case 2:
						err = db.Model(&Shelf{}).Where("id % 7 = ?", r.IntN(7)).Update("books", gorm.Expr("books + 1")).Error
					case 3:
						err = db.Where("id % 11 = ?", r.IntN(11)).Delete(&Shelf{}).Error
					case 4:
						err = db.Transaction(func(tx *gorm.DB) error {
							if err := tx.Create(&Shelf{Name: "rolled back"}).Error; err != nil {
								return err
							}
							return fmt.Errorf("roll back")
						})
						if err != nil && err.Error() == "roll back" {
							err = nil
						}
					default:
						err = db.Model(&Shelf{}).Where("name = ?", "a").Update("name", "aa").Error
					}
					if err != nil && !testdb.Retryable(err) {
						t.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		if err := <-heldDone; err != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
		cancel()
		if err := <-sealed; err != nil {
			t.Fatal(err)
		}
		f.round(t) // what committed last
		f.sealedOnce(t)
		if rep := f.verify(t); !rep.OK() || rep.Unsealed != 0 {
			t.Fatalf("verify: %+v", rep)
		}
	})
}
