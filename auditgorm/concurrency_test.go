package auditgorm_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/auditgorm"
	"github.com/go-auditlog/auditlog/auditstore"
	"github.com/go-auditlog/auditlog/internal/sqlcount"
	"github.com/go-auditlog/auditlog/internal/testdb"
)

// retryable reports whether err is a serialization failure or deadlock that
// the application should retry.
func retryable(err error) bool { return testdb.Retryable(err) }

// 16 goroutines each make 50 read-modify-write increments of one counter in
// their own transactions. There are exactly as many update entries as
// committed updates, and their old/new values form one unbroken chain.
func TestConcurrentIncrementsChain(t *testing.T) {
	for _, name := range testdb.Names() {
		if name == "sqlite" {
			continue // one writer at a time; covered by the rest of the suite
		}
		for _, mode := range []string{"locking read", "expression"} {
			t.Run(name+"/"+mode, func(t *testing.T) {
				t.Parallel()
				db := testdb.Open(t, name)
				reg := setup(t, db, &Counter{})
				must(t, reg.Register(&Counter{}))
				c := Counter{}
				must(t, db.Create(&c).Error)
				const workers, perWorker = 16, 50
				var wg sync.WaitGroup
				errs := make(chan error, workers)
				for w := 0; w < workers; w++ {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for i := 0; i < perWorker; i++ {
							for attempt := 1; ; attempt++ {
								err := db.Transaction(func(tx *gorm.DB) error {
									if mode == "expression" {
										return tx.Model(&Counter{ID: c.ID}).Update("n", gorm.Expr("n + ?", 1)).Error
									}
									var cur Counter
									if err := tx.Clauses(clause.Locking{Strength: "UPDATE"}).First(&cur, c.ID).Error; err != nil {
										return err
									}
									return tx.Model(&cur).Update("n", cur.N+1).Error
								})
								if err == nil {
									break
								}
								if !retryable(err) || attempt == 100 {
									errs <- fmt.Errorf("attempt %d: %w", attempt, err)
									return
								}
							}
						}
					}()
				}
				wg.Wait()
				close(errs)
				for err := range errs {
					t.Fatal(err)
				}
				var final Counter
				must(t, db.First(&final, c.ID).Error)
				if final.N != workers*perWorker {
					t.Fatalf("counter is %d, want %d", final.N, workers*perWorker)
				}
				es := entries(t, db)[1:] // after the create
				if len(es) != workers*perWorker {
					t.Fatalf("%d update entries, want %d", len(es), workers*perWorker)
				}
				prev := "0"
				for i, e := range es {
					ch := e.Changes["n"]
					if e.Action != auditlog.ActionUpdate || string(ch.Old) != prev {
						t.Fatalf("entry %d breaks the chain: old %s after new %s", i, ch.Old, prev)
					}
					prev = string(ch.New)
				}
				if prev != "800" {
					t.Fatalf("chain ends at %s", prev)
				}
			})
		}
	}
}

// History pages through an object's entries newest first with a cursor.
func TestHistoryPaging(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		reg := setup(t, db, &Counter{})
		must(t, reg.Register(&Counter{}))
		c, other := Counter{}, Counter{}
		must(t, db.Create(&c).Error)
		must(t, db.Create(&other).Error)
		for i := 1; i <= 9; i++ {
			must(t, db.Model(&c).Update("n", i).Error)
		}
		must(t, db.Model(&other).Update("n", 5).Error)
		var got []string
		p := auditstore.Page{Limit: 4}
		for {
			res, err := auditgorm.History(ctx, db, &c, p)
			must(t, err)
			for _, e := range res.Entries {
				got = append(got, string(e.Changes["n"].New))
			}
			if res.Next == "" {
				break
			}
			p.Cursor = res.Next
		}
		if strings.Join(got, ",") != "9,8,7,6,5,4,3,2,1,0" {
			t.Fatalf("history %v", got)
		}
		both, err := auditgorm.HistoryOf(ctx, db, []*Counter{&c, &other}, auditstore.Page{Limit: 100})
		must(t, err)
		if len(both.Entries) != 12 {
			t.Fatalf("combined history has %d entries, want 12", len(both.Entries))
		}
		all, err := auditgorm.ModelHistory(ctx, db, Counter{}, auditstore.Page{Limit: 100})
		must(t, err)
		if len(all.Entries) != 12 {
			t.Fatalf("model history has %d entries", len(all.Entries))
		}
		if _, err := auditgorm.History(ctx, db, &Counter{}, p); err == nil {
			t.Fatal("history of an unsaved object")
		}
		if _, err := auditgorm.HistoryOf(ctx, db, 5, p); err == nil {
			t.Fatal("HistoryOf accepted a non-slice")
		}
	})
}

// testdb.Retryable knows a real deadlock by its driver's error code, through
// the plugin's error wrapping: two transactions update two audited rows in
// opposite orders.
func TestRetryableDeadlock(t *testing.T) {
	for _, name := range testdb.Names() {
		if name == "sqlite" {
			continue // one writer at a time: SQLite has no deadlocks
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			db := testdb.Open(t, name)
			reg := setup(t, db, &Counter{})
			must(t, reg.Register(&Counter{}))
			a, b := Counter{N: 1}, Counter{N: 2}
			must(t, db.Create(&a).Error)
			must(t, db.Create(&b).Error)
			t1, t2 := db.Begin(), db.Begin()
			must(t, t1.Model(&a).Update("n", 10).Error)
			must(t, t2.Model(&b).Update("n", 20).Error)
			errs := make(chan error, 2)
			go func() { errs <- t1.Model(&b).Update("n", 11).Error }()
			go func() { errs <- t2.Model(&a).Update("n", 21).Error }()
			e1 := <-errs
			e2 := <-errs
			_ = t1.Rollback().Error
			_ = t2.Rollback().Error
			victim := e1
			if victim == nil {
				victim = e2
			}
			if victim == nil || !testdb.Retryable(victim) {
				t.Fatalf("errors %v and %v: want one retryable deadlock", e1, e2)
			}
			if testdb.Retryable(errors.New("Deadlock found 1213 40001")) {
				t.Fatal("a message that only looks like a deadlock is not one")
			}
		})
	}
}

// Concurrent single-row upserts of distinct new keys do not deadlock on
// MariaDB (the locking pre-read's gap locks made 2-5 of 400 fail), and each
// key gets exactly one create entry with the stored values; upserts of keys
// that exist still record their old values.
func TestConcurrentUpsertsOfNewKeys(t *testing.T) {
	if !contains(testdb.Names(), "mysql") {
		t.Skip(testdb.MySQLEnv + " is not set")
	}
	t.Parallel()
	db := testdb.Open(t, "mysql")
	reg := setup(t, db, &Doc{})
	must(t, reg.Register(&Doc{}))
	for i := 0; i < 20; i++ {
		must(t, db.Create(&Doc{Code: fmt.Sprintf("old%03d", i), Body: "v0"}).Error)
	}
	const workers, each = 8, 50
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < each; i++ {
				key := fmt.Sprintf("new%05d", i*workers+w) // neighbours belong to other workers
				if i%10 == 9 {
					key = fmt.Sprintf("old%03d", (i/10*workers+w)%20)
				}
				errs <- db.Clauses(clause.OnConflict{UpdateAll: true}).Create(&Doc{Code: key, Body: fmt.Sprintf("w%d-%d", w, i)}).Error
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	deadlocks := 0
	for err := range errs {
		switch {
		case err == nil:
		case testdb.Retryable(err):
			if deadlocks++; deadlocks == 1 {
				t.Logf("first deadlock: %v", err)
			}
		default:
			t.Errorf("upsert: %v", err)
		}
	}
	if deadlocks > 0 {
		t.Errorf("%d of %d concurrent upserts deadlocked", deadlocks, workers*each)
	}
	var docs []Doc
	must(t, db.Find(&docs).Error)
	body := map[string]string{}
	for _, d := range docs {
		body[d.Code] = d.Body
	}
	creates, state := map[string]int{}, map[string]string{}
	for _, e := range entries(t, db) {
		switch e.Action {
		case auditlog.ActionCreate:
			creates[e.ObjectPK]++
			state[e.ObjectPK] = strings.Trim(string(e.Changes["body"].New), `"`)
		case auditlog.ActionUpdate:
			if c, ok := e.Changes["body"]; ok {
				if old := strings.Trim(string(c.Old), `"`); old != state[e.ObjectPK] {
					t.Errorf("%s: the update's old body %q, the state was %q", e.ObjectPK, old, state[e.ObjectPK])
				}
				state[e.ObjectPK] = strings.Trim(string(c.New), `"`)
			}
		}
	}
	for code, b := range body {
		if creates[code] != 1 || state[code] != b {
			t.Errorf("%s: %d create entries, replayed body %q, stored %q", code, creates[code], state[code], b)
		}
	}
}

type raceKey struct{}

// interleave runs other once, as another transaction would, right after
// the first statement that match accepts among those run with a context
// from raced (the plugin's reads and writes in it, between which the other
// transaction commits). It reports, through the returned pointer, whether
// other ran; other gets a context that ends after 5 s, so that a lock the
// statement holds makes it fail rather than wait.
func interleave(t *testing.T, counter *sqlcount.Counter, match func(q string) bool, other func(ctx context.Context) error) (raced context.Context, ran *bool) {
	t.Helper()
	ran = new(bool)
	var once sync.Once
	counter.AfterQuery(func(ctx context.Context, q string) {
		if ctx.Value(raceKey{}) == nil || !match(q) {
			return
		}
		once.Do(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := other(ctx); err == nil {
				*ran = true
			}
		})
	})
	t.Cleanup(func() { counter.AfterQuery(nil) })
	return context.WithValue(context.Background(), raceKey{}, true), ran
}

// An unlocked MySQL upsert whose key another transaction inserts between
// the plugin's read and the write: the affected-row count tells what
// happened. Updating their row (count 2) is an error asking for a retry,
// never a create entry for a row the statement did not create; finding it
// as it would have written it (count 0) writes no entry.
func TestUpsertRaceWithConcurrentInsert(t *testing.T) {
	if !contains(testdb.Names(), "mysql") {
		t.Skip(testdb.MySQLEnv + " is not set")
	}
	for _, c := range []struct {
		name, theirs string
		wantErr      bool
	}{
		{"their row differs", "theirs", true},
		{"their row is the same", "mine", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			db, counter := testdb.OpenCounting(t, "mysql")
			reg := setup(t, db, &Doc{})
			must(t, reg.Register(&Doc{}))
			base, err := db.DB()
			must(t, err)
			var once sync.Once
			counter.AfterQuery(func(ctx context.Context, q string) {
				if ctx.Value(raceKey{}) == nil || !strings.Contains(q, "FROM `docs`") {
					return
				}
				if strings.Contains(q, "FOR UPDATE") || strings.Contains(q, "LOCK IN SHARE MODE") {
					t.Errorf("the new key was read under a lock: %s", q)
				}
				once.Do(func() {
					_, err := base.ExecContext(context.Background(), "INSERT INTO docs (code, body) VALUES ('k1', ?)", c.theirs)
					must(t, err)
				})
			})
			ctx := context.WithValue(context.Background(), raceKey{}, true)
			err = db.WithContext(ctx).Clauses(clause.OnConflict{UpdateAll: true}).Create(&Doc{Code: "k1", Body: "mine"}).Error
			counter.AfterQuery(nil)
			if got := err != nil && strings.Contains(err.Error(), "retry the transaction"); got != c.wantErr {
				t.Fatalf("error %v, want a retry error: %v", err, c.wantErr)
			}
			var d Doc
			must(t, db.First(&d, "code = ?", "k1").Error)
			if d.Body != c.theirs {
				t.Fatalf("row %+v, want their body %q", d, c.theirs)
			}
			expectCount(t, db, 0)
		})
	}
}

// In a caller's transaction a MySQL upsert of a new key takes the locking
// read: the unlocked path may refuse the upsert after it ran, which only
// GORM's default transaction (or the plugin's own) rolls back.
func TestUnlockedUpsertOnlyWhereAFailureRollsBack(t *testing.T) {
	if !contains(testdb.Names(), "mysql") {
		t.Skip(testdb.MySQLEnv + " is not set")
	}
	db, counter := testdb.OpenCounting(t, "mysql")
	reg := setup(t, db, &Doc{})
	must(t, reg.Register(&Doc{}))
	var locking []bool
	counter.AfterQuery(func(_ context.Context, q string) {
		if strings.HasPrefix(q, "SELECT") && strings.Contains(q, "`docs`") {
			locking = append(locking, strings.Contains(q, "FOR UPDATE"))
		}
	})
	defer counter.AfterQuery(nil)
	upsert := func(tx *gorm.DB, code string) {
		must(t, tx.Clauses(clause.OnConflict{UpdateAll: true}).Create(&Doc{Code: code, Body: "b"}).Error)
	}
	locking = nil
	upsert(db, "default-tx")
	if len(locking) == 0 || locking[0] {
		t.Errorf("in GORM's default transaction: reads %v, want an unlocked first read", locking)
	}
	locking = nil
	upsert(db.Session(&gorm.Session{SkipDefaultTransaction: true}), "own-tx")
	if len(locking) == 0 || locking[0] {
		t.Errorf("in the plugin's own transaction: reads %v, want an unlocked first read", locking)
	}
	locking = nil
	must(t, db.Transaction(func(tx *gorm.DB) error {
		upsert(tx, "caller-tx")
		return nil
	}))
	if len(locking) == 0 || !locking[0] {
		t.Errorf("in the caller's transaction: reads %v, want a locking read first", locking)
	}
}
