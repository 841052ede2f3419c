package auditgorm_test

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/auditgorm"
	"github.com/go-auditlog/auditlog/internal/testdb"
)

// Crashy is the model the crash test writes.
type Crashy struct {
	ID   uint
	Name string `gorm:"size:40"`
	N    int
}

const (
	crashDSNEnv  = "AUDITLOG_CRASH_DSN"
	crashKindEnv = "AUDITLOG_CRASH_KIND"
	crashSeedEnv = "AUDITLOG_CRASH_SEED"
	crashSepEnv  = "AUDITLOG_CRASH_SEPARATE" // Config.SeparateEntries in the child
)

// TestCrashChild is the child process of TestCrashSafety: it writes audited
// creates, updates, bulk updates and deletes until it is killed.
func TestCrashChild(t *testing.T) {
	dsn := os.Getenv(crashDSNEnv)
	if dsn == "" {
		t.Skip("the child process of TestCrashSafety")
	}
	db, err := gorm.Open(testdb.Dialector(t, os.Getenv(crashKindEnv), nil, dsn), &gorm.Config{Logger: logger.Discard})
	must(t, err)
	reg := auditlog.NewRegistry()
	must(t, db.Use(auditgorm.New(auditgorm.Config{Registry: reg, SeparateEntries: os.Getenv(crashSepEnv) != ""})))
	must(t, reg.Register(&Crashy{}))
	seed, _ := strconv.ParseUint(os.Getenv(crashSeedEnv), 10, 64)
	rng := rand.New(rand.NewPCG(seed, 99))
	ctx := auditlog.WithActor(context.Background(), auditlog.Actor{ID: "crash"})
	db = db.WithContext(ctx)
	for i := 0; ; i++ {
		var err error
		switch op := rng.IntN(10); {
		case op < 4 || i < 5:
			err = db.Create(&Crashy{Name: fmt.Sprintf("c%d", i), N: rng.IntN(100)}).Error
		case op < 7:
			err = db.Model(&Crashy{}).Where("id = (SELECT MIN(id) FROM crashies WHERE n >= ?)", rng.IntN(100)).Update("n", rng.IntN(100)).Error
		case op < 8:
			err = db.Model(&Crashy{}).Where("n < ?", rng.IntN(30)).Update("n", gorm.Expr("n + 1")).Error
		default:
			err = db.Where("id = (SELECT MAX(id) FROM crashies WHERE n < ?)", rng.IntN(100)).Delete(&Crashy{}).Error
		}
		if err != nil && !testdb.Retryable(err) {
			fmt.Println("error:", err)
		}
		if i == 5 {
			fmt.Println("ready")
		}
	}
}

// TestCrashSafety kills a writing child process with SIGKILL at random
// moments, several times, then replays the entries onto an empty state and
// compares it with the rows: every committed change has exactly its entries
// and every entry matches a committed change.
func TestCrashSafety(t *testing.T) {
	long(t)
	if os.Getenv(crashDSNEnv) != "" {
		t.Skip("in the child")
	}
	for _, kind := range testdb.Names() {
		if kind == "mysql" {
			continue // PostgreSQL and the SQLite file, as the issue asks
		}
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			db, dsn := testdb.OpenWithDSN(t, kind)
			must(t, db.AutoMigrate(&Crashy{}))
			seed := testSeed(t)
			rng := rand.New(rand.NewPCG(seed, 1))
			for round := 0; round < 4; round++ {
				cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
				cmd.Env = append(os.Environ(), crashDSNEnv+"="+dsn, crashKindEnv+"="+kind, crashSeedEnv+"="+strconv.FormatUint(seed+uint64(round), 10))
				if round%2 == 1 { // both ways of writing entries, one after the other
					cmd.Env = append(cmd.Env, crashSepEnv+"=1")
				}
				out, err := cmd.StdoutPipe()
				must(t, err)
				must(t, cmd.Start())
				lines := bufio.NewScanner(out)
				ready, drained := make(chan struct{}), make(chan struct{})
				go func() {
					defer close(drained)
					for lines.Scan() {
						if lines.Text() == "ready" {
							close(ready)
						} else if strings.HasPrefix(lines.Text(), "error:") {
							t.Errorf("child: %s", lines.Text())
						}
					}
				}()
				select {
				case <-ready:
				case <-time.After(30 * time.Second):
					_ = cmd.Process.Kill()
					<-drained
					_ = cmd.Wait()
					t.Fatal("the child did not start writing")
				}
				time.Sleep(time.Duration(50+rng.IntN(300)) * time.Millisecond)
				must(t, cmd.Process.Signal(syscall.SIGKILL))
				<-drained // the pipe is read to its end before Wait closes it
				_ = cmd.Wait()
			}
			replayMatches(t, db)
		})
	}
}

// replayMatches rebuilds the rows from the entries and compares. It reads
// the entries and the rows in one snapshot: the server may still commit a
// transaction of a killed child (its COMMIT was sent), and a commit between
// two separate reads would show a change without its entries or the
// reverse.
func replayMatches(t *testing.T, db *gorm.DB) {
	t.Helper()
	var opts *sql.TxOptions
	if db.Dialector.Name() == "postgres" {
		opts = &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true}
	} // a read transaction is a snapshot on SQLite
	tx := db.Begin(opts)
	must(t, tx.Error)
	defer tx.Rollback()
	db = tx
	state := map[string]map[string]json.RawMessage{}
	es := entries(t, db)
	for _, e := range es {
		switch e.Action {
		case auditlog.ActionCreate:
			if state[e.ObjectPK] != nil {
				t.Fatalf("entry %d creates %s twice", e.ID, e.ObjectPK)
			}
			row := map[string]json.RawMessage{}
			for f, c := range e.Changes {
				row[f] = c.New
			}
			state[e.ObjectPK] = row
		case auditlog.ActionUpdate:
			row := state[e.ObjectPK]
			if row == nil {
				t.Fatalf("entry %d updates %s, which does not exist", e.ID, e.ObjectPK)
			}
			for f, c := range e.Changes {
				if string(row[f]) != string(c.Old) {
					t.Fatalf("entry %d: %s.%s was %s, the entry says %s", e.ID, e.ObjectPK, f, row[f], c.Old)
				}
				row[f] = c.New
			}
		case auditlog.ActionDelete:
			if state[e.ObjectPK] == nil {
				t.Fatalf("entry %d deletes %s, which does not exist", e.ID, e.ObjectPK)
			}
			delete(state, e.ObjectPK)
		}
	}
	var rows []Crashy
	must(t, db.Find(&rows).Error)
	if len(rows) != len(state) {
		t.Fatalf("%d rows but the entries leave %d", len(rows), len(state))
	}
	for _, r := range rows {
		s := state[strconv.Itoa(int(r.ID))]
		if s == nil || string(s["n"]) != strconv.Itoa(r.N) || string(s["name"]) != strconv.Quote(r.Name) {
			t.Fatalf("row %+v, replayed %v", r, s)
		}
	}
	if len(es) < 10 {
		t.Fatalf("only %d entries: the child barely wrote", len(es))
	}
	t.Logf("%d entries replayed onto %d rows", len(es), len(rows))
}
