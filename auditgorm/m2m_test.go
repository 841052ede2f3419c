package auditgorm_test

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"

	"gorm.io/gorm"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/auditgorm"
	"github.com/go-auditlog/auditlog/auditstore"
	"github.com/go-auditlog/auditlog/internal/testdb"
)

type User struct {
	ID        uint
	Name      string
	Tags      []Tag `gorm:"many2many:user_tags"`
	UpdatedAt int64
}

func (u User) String() string { return u.Name }

type Tag struct {
	ID    uint
	Name  string
	Users []User `gorm:"many2many:user_tags"`
}

func (t Tag) String() string { return t.Name }

// m2mLog renders the many-to-many entries after index from as
// "owner field op [objects]" lines.
func m2mLog(t *testing.T, db *gorm.DB, from int) []string {
	t.Helper()
	var out []string
	for _, e := range entries(t, db)[from:] {
		for _, f := range e.Changes.Fields() {
			c := e.Changes[f]
			if c.M2M == nil {
				continue
			}
			if e.Action != auditlog.ActionUpdate {
				t.Fatalf("m2m entry with action %s", e.Action)
			}
			out = append(out, e.ObjectRepr+" "+f+" "+string(c.M2M.Operation)+" ["+strings.Join(c.M2M.Objects, ",")+"]")
		}
	}
	return out
}

func sorted(s []string) []string {
	sort.Strings(s)
	return s
}

func expectLog(t *testing.T, got []string, want ...string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("m2m entries:\n got %q\nwant %q", got, want)
	}
}

// Each association operation records exactly the related objects added or
// removed, on the owner.
func TestManyToMany(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		reg := setup(t, db, &User{}, &Tag{})
		must(t, reg.Register(&User{}, auditlog.M2M("Tags")))
		a, b := Tag{Name: "a"}, Tag{Name: "b"}
		u := User{Name: "ann", Tags: []Tag{a, b}}
		must(t, db.Create(&u).Error)
		es := entries(t, db)
		expectLog(t, m2mLog(t, db, 0), "ann tags add [a,b]")
		if len(es) != 2 {
			t.Fatalf("%d entries after create, want the create and the m2m add", len(es))
		}
		a, b = u.Tags[0], u.Tags[1]

		n := len(entries(t, db))
		c := Tag{Name: "c"}
		must(t, db.Model(&u).Association("Tags").Append(&a, &c))
		expectLog(t, m2mLog(t, db, n), "ann tags add [c]")

		n = len(entries(t, db))
		must(t, db.Model(&u).Association("Tags").Append(&a))
		expectLog(t, m2mLog(t, db, n))
		if len(entries(t, db)) != n {
			t.Fatal("re-adding a related object wrote an entry")
		}

		n = len(entries(t, db))
		d := Tag{Name: "d"}
		must(t, db.Model(&u).Association("Tags").Replace(&b, &d))
		expectLog(t, m2mLog(t, db, n), "ann tags add [d]", "ann tags remove [a,c]")

		n = len(entries(t, db))
		must(t, db.Model(&u).Association("Tags").Delete(&b))
		expectLog(t, m2mLog(t, db, n), "ann tags remove [b]")

		// Other users' tags must not show up in a Clear.
		must(t, db.Create(&User{Name: "bob", Tags: []Tag{a}}).Error)
		n = len(entries(t, db))
		must(t, db.Model(&u).Association("Tags").Clear())
		expectLog(t, m2mLog(t, db, n), "ann tags clear [d]")

		n = len(entries(t, db))
		u2 := User{ID: u.ID, Name: "ann", Tags: []Tag{a}}
		must(t, db.Save(&u2).Error)
		expectLog(t, m2mLog(t, db, n), "ann tags add [a]")

		n = len(entries(t, db))
		must(t, db.Select("Tags").Delete(&u2).Error)
		got := m2mLog(t, db, n)
		expectLog(t, got, "ann tags clear [a]")
	})
}

// When both sides declare the relation on one join table and both are
// audited, each change is recorded once on each side.
func TestManyToManyBothSides(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		reg := setup(t, db, &User{}, &Tag{})
		must(t, reg.Register(&User{}, auditlog.M2M("Tags")))
		must(t, reg.Register(&Tag{}, auditlog.M2M("Users")))
		u := User{Name: "ann"}
		tg := Tag{Name: "go"}
		must(t, db.Create(&u).Error)
		must(t, db.Create(&tg).Error)
		n := len(entries(t, db))
		must(t, db.Model(&tg).Association("Users").Append(&u))
		expectLog(t, sorted(m2mLog(t, db, n)), "ann tags add [go]", "go users add [ann]")
		n = len(entries(t, db))
		must(t, db.Model(&u).Association("Tags").Delete(&tg))
		expectLog(t, sorted(m2mLog(t, db, n)), "ann tags remove [go]", "go users remove [ann]")

		// An object's history combined with its related objects', newest first.
		res, err := auditgorm.HistoryOf(context.Background(), db, []any{&u, &tg}, auditstore.Page{})
		must(t, err)
		if len(res.Entries) != 6 {
			t.Fatalf("combined history: %d entries, want 6", len(res.Entries))
		}
		for i := 1; i < len(res.Entries); i++ {
			if res.Entries[i].ID > res.Entries[i-1].ID {
				t.Fatalf("combined history out of order")
			}
		}
	})
}

func TestManyToManyRegistrationError(t *testing.T) {
	t.Parallel()
	db := testdb.Open(t, "sqlite")
	reg := setup(t, db, &User{}, &Tag{})
	must(t, reg.Register(&User{}, auditlog.M2M("Name")))
	err := db.Create(&User{Name: "x"}).Error
	if err == nil || !strings.Contains(err.Error(), "not a many-to-many relation") {
		t.Fatalf("error %v", err)
	}
}

// PlainBox shows nothing but its key in entries: no repr, no additional
// data of its own.
type PlainBox struct {
	ID    uint
	Label string
	Parts []Part `gorm:"many2many:plain_box_parts"`
}

// An append to an owner that entries name by its integer key alone does not
// read the owner's row (one statement fewer than an owner with a repr), and
// its entry is the one the row would have given.
func TestM2MOwnerNamedByKeyIsNotRead(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, _ *gorm.DB) {
		name := t.Name()[strings.LastIndex(t.Name(), "/")+1:]
		db, counter := testdb.OpenCounting(t, name)
		reg := setup(t, db, &PlainBox{}, &Gadget{}, &Part{})
		must(t, reg.Register(&PlainBox{}, auditlog.M2M("Parts")))
		must(t, reg.Register(&Gadget{}, auditlog.M2M("Parts")))
		quiet := db.WithContext(auditlog.Disable(context.Background()))
		box, gadget, part := PlainBox{Label: "b"}, Gadget{Name: "g"}, Part{Name: "p"}
		must(t, quiet.Create(&box).Error)
		must(t, quiet.Create(&gadget).Error)
		must(t, quiet.Create(&part).Error)
		count := func(fn func() error) int64 {
			before := counter.Load()
			must(t, fn())
			return counter.Load() - before
		}
		plain := count(func() error { return db.Model(&PlainBox{ID: box.ID}).Association("Parts").Append(&Part{ID: part.ID}) })
		withRepr := count(func() error { return db.Model(&Gadget{ID: gadget.ID}).Association("Parts").Append(&Part{ID: part.ID}) })
		if plain != withRepr-1 {
			t.Errorf("statements: %d for the plain owner, %d for the owner with a repr; want one fewer", plain, withRepr)
		}
		expectLog(t, m2mLog(t, db, 0), fmt.Sprintf("PlainBox(%d) parts add [p]", box.ID), "g parts add [p]")
	})
}

// CodedUser's roles are joined by its code and their slug, not by their
// primary keys.
type CodedUser struct {
	ID    uint
	Code  string      `gorm:"uniqueIndex;size:32"`
	Roles []CodedRole `gorm:"many2many:coded_user_roles;foreignKey:Code;joinForeignKey:UserCode;References:Slug;joinReferences:RoleSlug"`
}

type CodedRole struct {
	ID   uint
	Slug string `gorm:"uniqueIndex;size:32"`
}

// A relation joined by other columns than the primary keys
// (`foreignKey:`/`References:`) records its changes on the owner named by
// its primary key, with the related objects named by theirs; a join row
// that refers to no owner row is refused, not recorded under a wrong name.
func TestM2MJoinedByOtherColumns(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		// No foreign keys, so that a join row may refer to nothing.
		db.Config.DisableForeignKeyConstraintWhenMigrating = true
		reg := setup(t, db, &CodedUser{}, &CodedRole{})
		must(t, reg.Register(&CodedUser{}, auditlog.M2M("Roles")))
		quiet := db.WithContext(auditlog.Disable(context.Background()))
		// Keys and codes that differ, and a code that looks like another
		// user's key.
		must(t, quiet.Create(&CodedUser{ID: 1, Code: "2"}).Error)
		must(t, quiet.Create(&CodedUser{ID: 2, Code: "u-b"}).Error)
		must(t, quiet.Create(&CodedRole{ID: 10, Slug: "admin"}).Error)
		must(t, quiet.Create(&CodedRole{ID: 11, Slug: "editor"}).Error)
		u := CodedUser{ID: 1, Code: "2"}
		must(t, db.Model(&u).Association("Roles").Append(&CodedRole{ID: 10, Slug: "admin"}, &CodedRole{ID: 11, Slug: "editor"}))
		must(t, db.Model(&u).Association("Roles").Delete(&CodedRole{ID: 10, Slug: "admin"}))
		got := m2mLines(t, db)
		want := []string{"1 CodedUser(1) roles add [CodedRole(10),CodedRole(11)]", "1 CodedUser(1) roles remove [CodedRole(10)]"}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("entries:\n got %q\nwant %q", got, want)
		}
		// A join row written by hand that refers to no user.
		err := db.Table("coded_user_roles").Create(map[string]any{"user_code": "nobody", "role_slug": "admin"}).Error
		if err == nil || !strings.Contains(err.Error(), "cannot name it") {
			t.Errorf("a join row that refers to no user: %v", err)
		}
		var n int64
		must(t, quiet.Table("coded_user_roles").Where("user_code = ?", "nobody").Count(&n).Error)
		if n != 0 {
			t.Errorf("the refused join row was written")
		}
	})
}

// A many-to-many relation whose join rows are soft deleted.
type SoftOwner struct {
	ID    uint
	Name  string
	Items []SoftItem `gorm:"many2many:soft_links"`
}

type SoftItem struct {
	ID   uint
	Name string
}

func (i SoftItem) String() string { return i.Name }

type SoftLink struct {
	SoftOwnerID uint `gorm:"primaryKey"`
	SoftItemID  uint `gorm:"primaryKey"`
	DeletedAt   gorm.DeletedAt
}

// TestM2MSoftDeletedJoinRows: on a join table with a deleted-at column a
// removal soft deletes the pair; appending it again finds the soft-deleted
// row (ON CONFLICT DO NOTHING: the relation stays removed, and no entry
// says otherwise), and removing it again changes nothing, as GORM does,
// without an error or an entry. Before, the removal read the soft-deleted
// row too and failed: "the delete removed 0 pairs but 1 were read".
func TestM2MSoftDeletedJoinRows(t *testing.T) {
	t.Parallel()
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		softJoin(t, db)
		o := SoftOwner{Name: "o"}
		must(t, db.Create(&o).Error)
		items := []SoftItem{{Name: "a"}, {Name: "b"}}
		must(t, db.Create(&items).Error)
		from := len(entries(t, db))
		assoc := func() *gorm.Association { return db.Model(&SoftOwner{ID: o.ID}).Association("Items") }
		for r := 0; r < 3; r++ {
			must(t, assoc().Append(&SoftItem{ID: items[0].ID}))
			must(t, assoc().Delete(&SoftItem{ID: items[0].ID}))
		}
		must(t, assoc().Append(&SoftItem{ID: items[1].ID}))
		must(t, assoc().Delete(&SoftItem{ID: items[0].ID}, &SoftItem{ID: items[1].ID}))
		expectLog(t, m2mLog(t, db, from),
			"SoftOwner("+fmt.Sprint(o.ID)+") items add [a]",
			"SoftOwner("+fmt.Sprint(o.ID)+") items remove [a]",
			"SoftOwner("+fmt.Sprint(o.ID)+") items add [b]",
			"SoftOwner("+fmt.Sprint(o.ID)+") items remove [b]")
		var live int64
		must(t, db.Table("soft_links").Where("deleted_at IS NULL").Count(&live).Error)
		if live != 0 {
			t.Fatalf("%d live pairs, want 0", live)
		}
	})
}

// An unscoped removal on a join model with soft delete deletes the pairs
// soft deleted before as well as the live ones: only the live ones leave
// the relation now, so only they are recorded as removed. The pairs
// removed before have their entries already.
func TestM2MUnscopedRemovalOfSoftDeletedPairs(t *testing.T) {
	t.Parallel()
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		softJoin(t, db)
		o := SoftOwner{Name: "o"}
		must(t, db.Create(&o).Error)
		items := []SoftItem{{Name: "a"}, {Name: "b"}, {Name: "c"}}
		must(t, db.Create(&items).Error)
		a, b, c := &SoftItem{ID: items[0].ID}, &SoftItem{ID: items[1].ID}, &SoftItem{ID: items[2].ID}
		assoc := func(db *gorm.DB) *gorm.Association { return db.Model(&SoftOwner{ID: o.ID}).Association("Items") }
		must(t, assoc(db).Append(a, b))
		must(t, assoc(db).Delete(a))
		from := len(entries(t, db))
		owner := "SoftOwner(" + fmt.Sprint(o.ID) + ")"
		// a is soft deleted, b live: the hard delete removes b only.
		must(t, assoc(db.Unscoped()).Delete(a, b))
		expectLog(t, m2mLog(t, db, from), owner+" items remove [b]")
		// Only soft-deleted pairs: nothing leaves the relation.
		must(t, assoc(db).Append(c))
		must(t, assoc(db).Delete(c))
		from = len(entries(t, db))
		must(t, assoc(db.Unscoped()).Delete(c))
		expectLog(t, m2mLog(t, db, from))
		var rows int64
		must(t, db.Unscoped().Table("soft_links").Count(&rows).Error)
		if rows != 0 {
			t.Fatalf("%d join rows left, want 0", rows)
		}
	})
}

// softJoin audits SoftOwner's items, joined by the soft-deleting SoftLink.
func softJoin(t *testing.T, db *gorm.DB) {
	t.Helper()
	auditJoin(t, db, &SoftOwner{}, &SoftLink{}, &SoftItem{})
}

// auditJoin audits owner's Items relation alone, joined by the join model
// link (SetupJoinTable) unless it is nil, and migrates owner, link and
// models.
func auditJoin(t *testing.T, db *gorm.DB, owner, link any, models ...any) {
	t.Helper()
	reg := auditlog.NewRegistry()
	must(t, reg.Register(owner, auditlog.M2M("Items")))
	must(t, db.Use(auditgorm.New(auditgorm.Config{Registry: reg})))
	models = append(models, owner)
	if link != nil {
		must(t, db.SetupJoinTable(owner, "Items", link))
		models = append(models, link)
	}
	must(t, db.AutoMigrate(models...))
}

// RaceOwner has no UpdatedAt: appending to it updates no row of its own,
// so that another transaction may insert a pair while the append runs.
type RaceOwner struct {
	ID     uint
	Name   string
	Labels []RaceLabel `gorm:"many2many:race_owner_labels"`
}

type RaceLabel struct {
	ID   uint
	Name string
}

// A pair another transaction inserts while an append runs is not the
// append's: GORM's INSERT … ON CONFLICT DO NOTHING skips it, and the append
// records nothing. On PostgreSQL the insert returns the pairs it inserted;
// on MariaDB the insert's count says it inserted none (for a join table
// without a unique index within the pair, the pairs are read before the
// insert, READ COMMITTED: the read locks no gap, and the count tells
// again: TestM2MAppendOfOnePairOnMySQL). Before, the append recorded
// adding the pair.
func TestM2MAppendRaceWithConcurrentInsert(t *testing.T) {
	for _, name := range testdb.Names() {
		if name == "sqlite" {
			continue // one writer at a time: no other transaction can insert the pair
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			db, counter := testdb.OpenCounting(t, name)
			reg := setup(t, db, &RaceOwner{}, &RaceLabel{})
			must(t, reg.Register(&RaceOwner{}, auditlog.M2M("Labels")))
			if name == "mysql" {
				// The append's upsert of the label locks its row, which the
				// other transaction's foreign key check would wait for: an
				// application without those constraints has the race.
				var fks []string
				must(t, db.Raw("SELECT constraint_name FROM information_schema.referential_constraints WHERE constraint_schema = database() AND table_name = 'race_owner_labels'").Scan(&fks).Error)
				for _, fk := range fks {
					must(t, db.Exec("ALTER TABLE race_owner_labels DROP FOREIGN KEY "+fk).Error)
				}
			}
			o, l := RaceOwner{Name: "ann"}, RaceLabel{Name: "a"}
			must(t, db.Create(&o).Error)
			must(t, db.Create(&l).Error)
			n := len(entries(t, db))
			base, err := db.DB()
			must(t, err)
			insert := "INSERT INTO race_owner_labels (race_owner_id, race_label_id) VALUES (?, ?)"
			if name == "postgres" {
				insert = "INSERT INTO race_owner_labels (race_owner_id, race_label_id) VALUES ($1, $2)"
			}
			// The other transaction inserts right before the pair's INSERT:
			// after GORM's upsert of the label, a query on PostgreSQL
			// (RETURNING), an exec on MariaDB, whose pair INSERT comes next.
			other := func(ctx context.Context) error {
				_, err := base.ExecContext(ctx, insert, o.ID, l.ID)
				return err
			}
			ctx, fired := interleave(t, counter, func(q string) bool {
				return name == "postgres" && strings.HasPrefix(q, "INSERT") && strings.Contains(q, `"race_labels"`)
			}, other)
			if name == "mysql" {
				var once sync.Once
				counter.BeforeStatement(func(sctx context.Context, q string) {
					if sctx.Value(raceKey{}) != nil && strings.HasPrefix(q, "INSERT") && strings.Contains(q, "race_owner_labels") {
						once.Do(func() { *fired = other(context.Background()) == nil })
					}
				})
				t.Cleanup(func() { counter.BeforeStatement(nil) })
			}
			err = db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
				return tx.Model(&o).Association("Labels").Append(&l)
			}, &sql.TxOptions{Isolation: sql.LevelReadCommitted})
			counter.AfterQuery(nil)
			counter.BeforeStatement(nil)
			must(t, err)
			if !*fired {
				t.Fatal("the other transaction did not insert the pair")
			}
			var got []map[string]any
			must(t, db.Table("race_owner_labels").Find(&got).Error)
			if len(got) != 1 {
				t.Fatalf("pairs %v, want the other transaction's", got)
			}
			expectLog(t, m2mLog(t, db, n))
			// Again, the append finds the pair: nothing to add.
			must(t, db.Model(&o).Association("Labels").Append(&l))
			expectLog(t, m2mLog(t, db, n))
		})
	}
}
