package auditgorm_test

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/auditgorm"
	"github.com/go-auditlog/auditlog/internal/testdb"
)

var update = flag.Bool("update", false, "rewrite golden files and the README's write-path table")

type Gadget struct {
	ID        uint
	Name      string `gorm:"uniqueIndex;size:64"`
	Price     int
	DeletedAt gorm.DeletedAt
	Parts     []Part `gorm:"many2many:gadget_parts"`
}

func (g Gadget) String() string { return g.Name }

type Part struct {
	ID   uint
	Name string
}

func (p Part) String() string { return p.Name }

// writePath is one GORM write call, with the entries it must write, each
// "action key changes", where key * matches any and <t> any time.
type writePath struct {
	call  string // the call as the README shows it
	only  string // a dialect it is limited to, when GORM itself differs
	run   func(db *gorm.DB) error
	want  []string
	extra int64 // at most this many SQL statements added by the plugin
	// writes is the number of audited write statements the call runs, when
	// more than one: without RETURNING each reads its rows back.
	writes int64
}

var p1, p2 = Part{ID: 1, Name: "p1"}, Part{ID: 2, Name: "p2"}

var writePaths = []writePath{
	{call: "db.Create(&obj)", run: func(db *gorm.DB) error { return db.Create(&Gadget{ID: 10, Name: "n", Price: 1}).Error },
		want: []string{`create 10 {"id":[null,10],"name":[null,"n"],"price":[null,1]}`}, extra: 1},
	{call: "db.Create(&slice)", run: func(db *gorm.DB) error {
		return db.Create(&[]Gadget{{ID: 10, Name: "n", Price: 1}, {ID: 11, Name: "m", Price: 2}}).Error
	}, want: []string{`create 10 {"id":[null,10],"name":[null,"n"],"price":[null,1]}`, `create 11 {"id":[null,11],"name":[null,"m"],"price":[null,2]}`}, extra: 1},
	{call: "db.CreateInBatches(&slice, 2)", run: func(db *gorm.DB) error {
		return db.CreateInBatches(&[]Gadget{{Name: "x1"}, {Name: "x2"}, {Name: "x3"}}, 2).Error
	}, want: []string{`create * {"id":[null,"*"],"name":[null,"x1"],"price":[null,0]}`, `create * {"id":[null,"*"],"name":[null,"x2"],"price":[null,0]}`, `create * {"id":[null,"*"],"name":[null,"x3"],"price":[null,0]}`}, extra: 2, writes: 2},
	{call: "db.Model(&T{}).Create(map)", run: func(db *gorm.DB) error {
		return db.Model(&Gadget{}).Create(map[string]any{"Name": "m", "Price": 7}).Error
	}, want: []string{`create * {"id":[null,"*"],"name":[null,"m"],"price":[null,7]}`}, extra: 2},
	{call: "db.Model(&T{}).Create([]map)", only: "mysql", run: func(db *gorm.DB) error {
		return db.Model(&Gadget{}).Create([]map[string]any{{"Name": "m1", "Price": 7}, {"Name": "m2", "Price": 8}}).Error
	}, want: []string{`create * {"id":[null,"*"],"name":[null,"m1"],"price":[null,7]}`, `create * {"id":[null,"*"],"name":[null,"m2"],"price":[null,8]}`}, extra: 2},
	{call: "db.Omit(\"Price\").Create(&obj)", run: func(db *gorm.DB) error {
		return db.Omit("Price").Create(&Gadget{ID: 10, Name: "n", Price: 99}).Error
	}, want: []string{`create 10 {"id":[null,10],"name":[null,"n"]}`}, extra: 2},
	{call: "db.FirstOrCreate(&obj, cond)", run: func(db *gorm.DB) error {
		return db.FirstOrCreate(&Gadget{ID: 10, Name: "f"}, Gadget{Name: "f"}).Error
	}, want: []string{`create 10 {"id":[null,10],"name":[null,"f"],"price":[null,0]}`}, extra: 1},
	{call: "db.Save(&newObj)", run: func(db *gorm.DB) error { return db.Save(&Gadget{Name: "s", Price: 3}).Error },
		want: []string{`create * {"id":[null,"*"],"name":[null,"s"],"price":[null,3]}`}, extra: 1},
	{call: "db.Save(&obj)", run: func(db *gorm.DB) error { return db.Save(&Gadget{ID: 1, Name: "a", Price: 11}).Error },
		want: []string{`update 1 {"price":[10,11]}`}, extra: 2},
	{call: "db.Save(&objWithUnknownKey)", run: func(db *gorm.DB) error { return db.Save(&Gadget{ID: 42, Name: "z"}).Error },
		want: []string{`create 42 {"id":[null,42],"name":[null,"z"],"price":[null,0]}`}, extra: 3},
	{call: "db.Save(&slice)", run: func(db *gorm.DB) error {
		return db.Save(&[]Gadget{{ID: 1, Name: "a", Price: 12}, {ID: 10, Name: "n", Price: 1}}).Error
	}, want: []string{`create 10 {"id":[null,10],"name":[null,"n"],"price":[null,1]}`, `update 1 {"price":[10,12]}`}, extra: 3},
	{call: "db.Model(&obj).Update(col, v)", run: func(db *gorm.DB) error { return db.Model(&Gadget{ID: 1}).Update("price", 13).Error },
		want: []string{`update 1 {"price":[10,13]}`}, extra: 2},
	{call: "db.Model(&obj).Updates(struct)", run: func(db *gorm.DB) error {
		return db.Model(&Gadget{ID: 1}).Updates(Gadget{Name: "a2", Price: 0}).Error
	}, want: []string{`update 1 {"name":["a","a2"]}`}, extra: 2},
	{call: "db.Model(&obj).Updates(map)", run: func(db *gorm.DB) error {
		return db.Model(&Gadget{ID: 1}).Updates(map[string]any{"price": 0, "name": "a"}).Error
	}, want: []string{`update 1 {"price":[10,0]}`}, extra: 2},
	{call: "db.Model(&obj).Select(cols).Updates(struct)", run: func(db *gorm.DB) error {
		return db.Model(&Gadget{ID: 1}).Select("Price").Updates(Gadget{Name: "x", Price: 0}).Error
	}, want: []string{`update 1 {"price":[10,0]}`}, extra: 2},
	{call: "db.Model(&obj).Omit(cols).Updates(map)", run: func(db *gorm.DB) error {
		return db.Model(&Gadget{ID: 1}).Omit("name").Updates(map[string]any{"name": "x", "price": 4}).Error
	}, want: []string{`update 1 {"price":[10,4]}`}, extra: 2},
	{call: "db.Model(&obj).UpdateColumn(col, v)", run: func(db *gorm.DB) error {
		return db.Model(&Gadget{ID: 2}).UpdateColumn("price", 21).Error
	}, want: []string{`update 2 {"price":[20,21]}`}, extra: 2},
	{call: "db.Model(&obj).UpdateColumns(map)", run: func(db *gorm.DB) error {
		return db.Model(&Gadget{ID: 2}).UpdateColumns(map[string]any{"price": 22, "name": "b2"}).Error
	}, want: []string{`update 2 {"name":["b","b2"],"price":[20,22]}`}, extra: 2},
	{call: "db.Model(&T{}).Where(…).Updates(map)", run: func(db *gorm.DB) error {
		return db.Model(&Gadget{}).Where("price < ?", 15).Updates(map[string]any{"price": 15}).Error
	}, want: []string{`update 1 {"price":[10,15]}`, `update 3 {"price":[5,15]}`}, extra: 2},
	{call: "db.Model(&T{}).Where(…).Update(col, gorm.Expr(…))", run: func(db *gorm.DB) error {
		return db.Model(&Gadget{}).Where("price >= ?", 10).Update("price", gorm.Expr("price * ? + 1", 2)).Error
	}, want: []string{`update 1 {"price":[10,21]}`, `update 2 {"price":[20,41]}`}, extra: 3},
	{call: "db.Model(&T{}).Where(…).UpdateColumn(col, v)", run: func(db *gorm.DB) error {
		return db.Model(&Gadget{}).Where("name IN ?", []string{"a", "b"}).UpdateColumn("price", 1).Error
	}, want: []string{`update 1 {"price":[10,1]}`, `update 2 {"price":[20,1]}`}, extra: 2},
	{call: "db.Session(AllowGlobalUpdate).Model(&T{}).Update(col, v)", run: func(db *gorm.DB) error {
		return db.Session(&gorm.Session{AllowGlobalUpdate: true}).Model(&Gadget{}).Update("price", 10).Error
	}, want: []string{`update 2 {"price":[20,10]}`, `update 3 {"price":[5,10]}`}, extra: 2},
	{call: "db.Model(&slice).Update(col, v)", run: func(db *gorm.DB) error {
		return db.Model(&[]Gadget{{ID: 1}, {ID: 3}}).Update("price", 2).Error
	}, want: []string{`update 1 {"price":[10,2]}`, `update 3 {"price":[5,2]}`}, extra: 2},
	{call: "db.Delete(&obj) (soft)", run: func(db *gorm.DB) error { return db.Delete(&Gadget{ID: 1}).Error },
		want: []string{`delete 1 {"deleted_at":[null,"<t>"]}`}, extra: 2},
	{call: "db.Delete(&T{}, key)", run: func(db *gorm.DB) error { return db.Delete(&Gadget{}, 2).Error },
		want: []string{`delete 2 {"deleted_at":[null,"<t>"]}`}, extra: 2},
	{call: "db.Delete(&T{}, keys)", run: func(db *gorm.DB) error { return db.Delete(&Gadget{}, []int{1, 3}).Error },
		want: []string{`delete 1 {"deleted_at":[null,"<t>"]}`, `delete 3 {"deleted_at":[null,"<t>"]}`}, extra: 2},
	{call: "db.Where(…).Delete(&T{})", run: func(db *gorm.DB) error { return db.Where("price > ?", 8).Delete(&Gadget{}).Error },
		want: []string{`delete 1 {"deleted_at":[null,"<t>"]}`, `delete 2 {"deleted_at":[null,"<t>"]}`}, extra: 2},
	{call: "db.Delete(&alreadySoftDeleted)", run: func(db *gorm.DB) error {
		if err := db.Delete(&Gadget{ID: 3}).Error; err != nil {
			return err
		}
		return db.WithContext(context.Background()).Delete(&Gadget{ID: 3}).Error
	}, want: []string{`delete 3 {"deleted_at":[null,"<t>"]}`}, extra: 4},
	{call: "db.Unscoped().Delete(&obj)", run: func(db *gorm.DB) error { return db.Unscoped().Delete(&Gadget{ID: 3}).Error },
		want: []string{`delete 3 {"id":[3,null],"name":["c",null],"price":[5,null]}`}, extra: 2},
	{call: "db.Unscoped().Where(…).Delete(&T{})", run: func(db *gorm.DB) error {
		if err := db.Exec("DELETE FROM gadget_parts").Error; err != nil {
			return err
		}
		return db.Unscoped().Where("price < ?", 15).Delete(&Gadget{}).Error
	}, want: []string{`delete 1 {"id":[1,null],"name":["a",null],"price":[10,null]}`, `delete 3 {"id":[3,null],"name":["c",null],"price":[5,null]}`}, extra: 2},
	{call: "db.Clauses(clause.OnConflict{UpdateAll: true}).Create(&slice)", run: func(db *gorm.DB) error {
		return db.Clauses(clause.OnConflict{UpdateAll: true}).Create(&[]Gadget{{ID: 1, Name: "a", Price: 99}, {ID: 10, Name: "n", Price: 1}}).Error
	}, want: []string{`create 10 {"id":[null,10],"name":[null,"n"],"price":[null,1]}`, `update 1 {"price":[10,99]}`}, extra: 3},
	{call: "db.Clauses(clause.OnConflict{DoUpdates: …}).Create(&obj)", run: func(db *gorm.DB) error {
		return db.Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "id"}}, DoUpdates: clause.Assignments(map[string]any{"price": gorm.Expr("gadgets.price + 1")})}).
			Create(&Gadget{ID: 2, Name: "b", Price: 0}).Error
	}, want: []string{`update 2 {"price":[20,21]}`}, extra: 3},
	{call: "db.Clauses(clause.OnConflict{DoNothing: true}).Create(&slice)", run: func(db *gorm.DB) error {
		return db.Clauses(clause.OnConflict{DoNothing: true}).Create(&[]Gadget{{ID: 2, Name: "b", Price: 5}, {ID: 10, Name: "n", Price: 1}}).Error
	}, want: []string{`create 10 {"id":[null,10],"name":[null,"n"],"price":[null,1]}`}, extra: 2},
	{call: "db.Clauses(clause.OnConflict{DoNothing: true}).Create(&objWithTakenUniqueValue)", run: func(db *gorm.DB) error {
		return db.Clauses(clause.OnConflict{DoNothing: true}).Create(&[]Gadget{{ID: 10, Name: "a", Price: 5}, {ID: 11, Name: "new", Price: 1}}).Error
	}, want: []string{`create 11 {"id":[null,11],"name":[null,"new"],"price":[null,1]}`}, extra: 2},
	{call: "db.Clauses(clause.OnConflict{Columns: unique, DoUpdates: …}).Create(&obj)", run: func(db *gorm.DB) error {
		return db.Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "name"}}, DoUpdates: clause.AssignmentColumns([]string{"price"})}).
			Create(&Gadget{Name: "c", Price: 50}).Error
	}, want: []string{`update 3 {"price":[5,50]}`}, extra: 3},
	{call: "db.Model(&obj).Association(f).Append(…)", run: func(db *gorm.DB) error {
		return db.Model(&Gadget{ID: 1}).Association("Parts").Append(cp(p1), cp(p2))
	}, want: []string{`update 1 {"parts":{"keys":["2"],"objects":["p2"],"operation":"add","type":"m2m"}}`}, extra: 6},
	{call: "db.Model(&obj).Association(f).Replace(…)", run: func(db *gorm.DB) error {
		return db.Model(&Gadget{ID: 1}).Association("Parts").Replace(cp(p2))
	}, want: []string{`update 1 {"parts":{"keys":["2"],"objects":["p2"],"operation":"add","type":"m2m"}}`, `update 1 {"parts":{"keys":["1"],"objects":["p1"],"operation":"remove","type":"m2m"}}`}, extra: 10},
	{call: "db.Model(&obj).Association(f).Delete(…)", run: func(db *gorm.DB) error {
		return db.Model(&Gadget{ID: 1}).Association("Parts").Delete(cp(p1))
	}, want: []string{`update 1 {"parts":{"keys":["1"],"objects":["p1"],"operation":"remove","type":"m2m"}}`}, extra: 4},
	{call: "db.Model(&obj).Association(f).Clear()", run: func(db *gorm.DB) error {
		return db.Model(&Gadget{ID: 1}).Association("Parts").Clear()
	}, want: []string{`update 1 {"parts":{"keys":["1"],"objects":["p1"],"operation":"clear","type":"m2m"}}`}, extra: 4},
	{call: "db.Create(&objWithAssociations)", run: func(db *gorm.DB) error {
		return db.Create(&Gadget{ID: 10, Name: "n", Parts: []Part{p1, p2}}).Error
	}, want: []string{`create 10 {"id":[null,10],"name":[null,"n"],"price":[null,0]}`, `update 10 {"parts":{"keys":["1","2"],"objects":["p1","p2"],"operation":"add","type":"m2m"}}`}, extra: 6},
	{call: "db.Transaction(…) that rolls back", run: func(db *gorm.DB) error {
		err := db.Transaction(func(tx *gorm.DB) error {
			if err := tx.Model(&Gadget{ID: 1}).Update("price", 1).Error; err != nil {
				return err
			}
			return errBoom
		})
		if err == errBoom {
			return nil
		}
		return err
	}, want: nil, extra: 2},
	{call: "db.Exec(raw SQL)", run: func(db *gorm.DB) error { return db.Exec("UPDATE gadgets SET price = 0").Error },
		want: nil, extra: 0},
}

var timeRE = regexp.MustCompile(`"\d{4}-\d\d-\d\dT[0-9:.]+Z"`)

func renderEntry(t *testing.T, e auditlog.Entry) string {
	t.Helper()
	b, err := json.Marshal(changesJSON(t, e)) // keys sorted
	must(t, err)
	return e.Action.String() + " " + e.ObjectPK + " " + timeRE.ReplaceAllString(string(b), `"<t>"`)
}

// matchEntry compares an entry with its expectation, where * (or "*")
// stands for any key or number.
func matchEntry(want, got string) bool {
	pattern := regexp.QuoteMeta(strings.ReplaceAll(want, `"*"`, "*"))
	pattern = "^" + strings.ReplaceAll(pattern, `\*`, `[^ ,\]]+`) + "$"
	ok, _ := regexp.MatchString(pattern, got)
	return ok
}

// TestWritePaths runs every GORM write call of the matrix on each database,
// checks the exact entries written and that the plugin adds a constant
// number of statements.
func TestWritePaths(t *testing.T) {
	for _, name := range testdb.Names() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			db, counter := testdb.OpenCounting(t, name)
			reg := setup(t, db, &Gadget{}, &Part{})
			must(t, reg.Register(&Gadget{}, auditlog.M2M("Parts")))
			reset := func() {
				t.Helper()
				for _, table := range []string{"gadget_parts", "gadgets", "parts", "auditlog_entries"} {
					must(t, db.Exec("DELETE FROM "+table).Error)
				}
				quiet := db.WithContext(auditlog.Disable(context.Background()))
				must(t, quiet.Create(&[]Part{p1, p2}).Error)
				must(t, quiet.Omit("Parts").Create(&[]Gadget{{ID: 1, Name: "a", Price: 10}, {ID: 2, Name: "b", Price: 20}, {ID: 3, Name: "c", Price: 5}}).Error)
				must(t, quiet.Exec("INSERT INTO gadget_parts (gadget_id, part_id) VALUES (1, 1)").Error)
				if name == "postgres" {
					must(t, db.Exec("SELECT setval(pg_get_serial_sequence('gadgets', 'id'), 100)").Error)
				}
			}
			// The unique indexes an upsert reads once per table, before
			// the steady state the counts are of.
			auditgorm.KeepCatalogReads(db)
			must(t, auditgorm.ReadUniqueIndexes(db, "gadgets", "parts"))
			for _, wp := range writePaths {
				if wp.only != "" && !strings.Contains(wp.only, name) {
					continue
				}
				t.Run(wp.call, func(t *testing.T) {
					reset()
					n0 := counter.Load()
					must(t, wp.run(db.WithContext(auditlog.Disable(context.Background()))))
					baseline := counter.Load() - n0
					reset()
					// On SQLite a statement inside a transaction GORM did not
					// start for it (CreateInBatches', a nested association
					// save's) runs in a savepoint: two statements in process,
					// counted apart.
					var savepoints int64
					counter.BeforeStatement(func(_ context.Context, q string) {
						if strings.HasSuffix(q, "SAVEPOINT auditlog_capture") {
							savepoints++
						}
					})
					n0 = counter.Load()
					must(t, wp.run(db))
					counter.BeforeStatement(nil)
					extra := counter.Load() - n0 - baseline - savepoints
					es := entries(t, db)
					var got []string
					for _, e := range es {
						got = append(got, renderEntry(t, e))
					}
					if len(got) != len(wp.want) {
						t.Fatalf("entries:\n got %q\nwant %q", got, wp.want)
					}
					// One statement's entries for different objects come in the
					// order the database reports them.
					left := append([]string(nil), got...)
					for _, w := range wp.want {
						found := -1
						for i, g := range left {
							if matchEntry(w, g) {
								found = i
								break
							}
						}
						if found < 0 {
							t.Fatalf("no entry matches %s\n got %q", w, got)
						}
						left = append(left[:found], left[found+1:]...)
					}
					t.Logf("plugin statements: %d (and %d for savepoints)", extra, savepoints)
					limit := wp.extra
					if name == "mysql" {
						// This connection does not probe the server, so GORM uses
						// no RETURNING (as on MySQL): written rows are read back.
						limit += max(1, wp.writes)
					}
					if extra > limit {
						t.Errorf("the plugin added %d statements, want at most %d", extra, limit)
					}
				})
			}
		})
	}
}

// The README's "What is audited" table is generated from the matrix.
func TestWritePathsTable(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	b.WriteString("| GORM call | entries written |\n|---|---|\n")
	for _, wp := range writePaths {
		b.WriteString("| `" + wp.call + "` | " + summarize(wp.want))
		if wp.only != "" {
			b.WriteString(" (" + strings.ReplaceAll(wp.only, " ", ", ") + "; GORM fails on the others)")
		}
		b.WriteString(" |\n")
	}
	table := b.String()
	const begin, end = "<!-- write-paths:begin -->\n", "<!-- write-paths:end -->"
	readme, err := os.ReadFile("../README.md")
	must(t, err)
	i, j := strings.Index(string(readme), begin), strings.Index(string(readme), end)
	if i < 0 || j < i {
		t.Fatalf("README.md lacks the %q … %q markers", begin, end)
	}
	current := string(readme[i+len(begin) : j])
	if current == table {
		return
	}
	if *update {
		must(t, os.WriteFile("../README.md", []byte(string(readme[:i+len(begin)])+table+string(readme[j:])), 0o644))
		return
	}
	t.Fatalf("README.md's write-path table is out of date; run go test ./auditgorm -run TestWritePathsTable -update")
}

func summarize(want []string) string {
	if len(want) == 0 {
		return "none (nothing committed, or invisible to GORM: use `auditgorm.Log`)"
	}
	counts := map[string]int{}
	for _, w := range want {
		action := strings.Fields(w)[0]
		if strings.Contains(w, `"type":"m2m"`) {
			for _, op := range []string{"add", "remove", "clear"} {
				if strings.Contains(w, `"operation":"`+op+`"`) {
					action = "m2m " + op
				}
			}
		}
		counts[action]++
	}
	var parts []string
	for a, n := range counts {
		parts = append(parts, fmt.Sprintf("%d %s", n, a))
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}

// cp copies a shared fixture, since GORM writes into what it is given and
// the matrix runs on several databases at once.
func cp(p Part) *Part { return &p }
