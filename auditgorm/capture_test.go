package auditgorm_test

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/auditgorm"
	"github.com/go-auditlog/auditlog/auditstore"
	"github.com/go-auditlog/auditlog/internal/testdb"
)

func assertChanges(t *testing.T, e auditlog.Entry, want string) {
	t.Helper()
	got := changesJSON(t, e)
	if w := wantJSON(t, want); !reflect.DeepEqual(got, w) {
		t.Fatalf("changes of %s entry:\n got %v\nwant %v", e.Action, got, w)
	}
}

// §10.1, 2, 5, 40: create, update and delete each write exactly one entry
// with the right action, repr and changes; nil fields are absent on create;
// the auto-updated timestamp is not part of an update's changes.
func TestLifecycle(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		reg := setup(t, db, &Book{})
		must(t, reg.Register(&Book{}, auditlog.Exclude("CreatedAt", "UpdatedAt")))
		b := Book{Title: "Dune", Price: "9.99"}
		must(t, db.Create(&b).Error)
		es := expectCount(t, db, 1)
		e := es[0]
		if e.Action != auditlog.ActionCreate || e.Model != "books" || e.ObjectPK != "1" || e.ObjectID == nil || *e.ObjectID != 1 || e.ObjectRepr != "Book Dune" {
			t.Fatalf("create entry = %+v", e)
		}
		assertChanges(t, e, `{"id":[null,1],"title":[null,"Dune"],"price":[null,"9.99"],"secret":[null,""],"addr_city":[null,""],"addr_street":[null,""]}`)

		must(t, db.Model(&b).Update("title", "Dune Messiah").Error)
		e = expectCount(t, db, 2)[1]
		if e.Action != auditlog.ActionUpdate || e.ObjectRepr != "Book Dune Messiah" {
			t.Fatalf("update entry = %+v", e)
		}
		assertChanges(t, e, `{"title":["Dune","Dune Messiah"]}`)

		must(t, db.Delete(&b).Error) // soft delete
		e = expectCount(t, db, 3)[2]
		if e.Action != auditlog.ActionDelete || len(e.Changes) != 1 {
			t.Fatalf("soft delete entry = %+v", e)
		}
		dc := e.Changes["deleted_at"]
		if string(dc.Old) != "null" || dc.NewValue() == nil {
			t.Fatalf("soft delete changes = %s", e.Changes)
		}

		must(t, db.Unscoped().Delete(&b).Error) // hard delete of the soft-deleted row
		e = expectCount(t, db, 4)[3]
		if e.Action != auditlog.ActionDelete || e.ObjectPK != "1" {
			t.Fatalf("hard delete entry = %+v", e)
		}
		for _, col := range []string{"id", "title", "price", "deleted_at"} {
			c, ok := e.Changes[col]
			if !ok || string(c.New) != "null" || string(c.Old) == "null" {
				t.Fatalf("hard delete: %s = %+v in %s", col, c, e.Changes)
			}
		}
		if _, ok := e.Changes["pages"]; ok {
			t.Fatalf("hard delete records a null field: %s", e.Changes)
		}
	})
}

// Every single-object write path records exactly what it changed.
func TestUpdatePaths(t *testing.T) {
	cases := []struct {
		name  string
		write func(db *gorm.DB, b *Book) error
		want  string // "" means no entry
	}{
		{"Update", func(db *gorm.DB, b *Book) error { return db.Model(b).Update("title", "B").Error }, `{"title":["A","B"]}`},
		{"Updates struct skips zero fields", func(db *gorm.DB, b *Book) error {
			return db.Model(b).Updates(Book{Title: "B", Secret: ""}).Error
		}, `{"title":["A","B"]}`},
		{"Updates map writes zero values", func(db *gorm.DB, b *Book) error {
			return db.Model(b).Updates(map[string]any{"title": "", "pages": 0}).Error
		}, `{"title":["A",""],"pages":[7,0]}`},
		{"Select limits the fields (§10.3)", func(db *gorm.DB, b *Book) error {
			return db.Model(b).Select("Secret").Updates(Book{Title: "B", Secret: "s2"}).Error
		}, `{"secret":["s1","s2"]}`},
		{"Omit", func(db *gorm.DB, b *Book) error {
			return db.Model(b).Omit("Title").Updates(map[string]any{"title": "B", "secret": "s2"}).Error
		}, `{"secret":["s1","s2"]}`},
		{"UpdateColumn skips hooks, not auditing", func(db *gorm.DB, b *Book) error {
			return db.Model(b).UpdateColumn("title", "B").Error
		}, `{"title":["A","B"]}`},
		{"UpdateColumns", func(db *gorm.DB, b *Book) error {
			return db.Model(b).UpdateColumns(map[string]any{"title": "B", "secret": "s2"}).Error
		}, `{"title":["A","B"],"secret":["s1","s2"]}`},
		{"Save", func(db *gorm.DB, b *Book) error {
			b.Title, b.Pages = "B", nil
			return db.Save(b).Error
		}, `{"title":["A","B"],"pages":[7,null]}`},
		{"Save of an unchanged object (§10.4)", func(db *gorm.DB, b *Book) error { return db.Save(b).Error }, ""},
		{"Updates with the same values", func(db *gorm.DB, b *Book) error {
			return db.Model(b).Updates(map[string]any{"title": "A", "price": "2.5"}).Error
		}, ""},
		{"Updates with an empty map (§10.4)", func(db *gorm.DB, b *Book) error {
			return db.Model(b).Updates(map[string]any{}).Error
		}, ""},
		{"serializer field", func(db *gorm.DB, b *Book) error {
			return db.Model(b).Updates(Book{Tags: []string{"x", "y"}}).Error
		}, `{"tags":[["x"],["x","y"]]}`},
		{"embedded struct field", func(db *gorm.DB, b *Book) error {
			return db.Model(b).Updates(Book{Address: Address{City: "Oslo"}}).Error
		}, `{"addr_city":["Paris","Oslo"]}`},
		{"pointer to nil", func(db *gorm.DB, b *Book) error {
			return db.Model(b).Select("Pages").Updates(Book{}).Error
		}, `{"pages":[7,null]}`},
		{"key by Model, values from another struct", func(db *gorm.DB, b *Book) error {
			return db.Model(&Book{ID: b.ID}).Updates(&Book{Title: "B"}).Error
		}, `{"title":["A","B"]}`},
		{"expression", func(db *gorm.DB, b *Book) error {
			return db.Model(b).Update("pages", gorm.Expr("pages * ?", 3)).Error
		}, `{"pages":[7,21]}`},
		{"Where on the model", func(db *gorm.DB, b *Book) error {
			return db.Model(&Book{}).Where("id = ?", b.ID).Update("secret", "s2").Error
		}, `{"secret":["s1","s2"]}`},
	}
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		reg := setup(t, db, &Book{})
		must(t, reg.Register(&Book{}, auditlog.Exclude("CreatedAt", "UpdatedAt")))
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				pages := 7
				b := &Book{Title: "A", Price: "2.50", Secret: "s1", Pages: &pages, Tags: []string{"x"}, Address: Address{City: "Paris"}}
				must(t, db.Create(b).Error)
				before := len(entries(t, db))
				// Reload, so the object holds what the database holds.
				must(t, db.First(b, b.ID).Error)
				must(t, tc.write(db, b))
				es := entries(t, db)[before:]
				if tc.want == "" {
					if len(es) != 0 {
						t.Fatalf("want no entry, got %s", es[0].Changes)
					}
					return
				}
				if len(es) != 1 {
					t.Fatalf("want 1 entry, got %d", len(es))
				}
				if es[0].Action != auditlog.ActionUpdate || es[0].ObjectID == nil || *es[0].ObjectID != int64(b.ID) {
					t.Fatalf("entry = %+v", es[0])
				}
				assertChanges(t, es[0], tc.want)
			})
		}
	})
}

// Writes that change nothing, or are not to be audited, write no entry.
func TestNoEntry(t *testing.T) {
	type Unregistered struct {
		ID   uint
		Name string
	}
	cases := []struct {
		name     string
		write    func(ctx context.Context, db *gorm.DB, b *Book) error
		writesDB bool // the write happens, unaudited
	}{
		{"update of a missing row", func(ctx context.Context, db *gorm.DB, b *Book) error {
			return db.Model(&Book{ID: 9999}).Update("title", "x").Error
		}, false},
		{"delete of a missing row", func(ctx context.Context, db *gorm.DB, b *Book) error {
			return db.Delete(&Book{}, 9999).Error
		}, false},
		{"where that matches nothing", func(ctx context.Context, db *gorm.DB, b *Book) error {
			return db.Model(&Book{}).Where("title = ?", "nope").Update("title", "x").Error
		}, false},
		{"DryRun", func(ctx context.Context, db *gorm.DB, b *Book) error {
			s := db.Session(&gorm.Session{DryRun: true})
			return errorsJoin(s.Create(&Book{Title: "x"}).Error, s.Model(b).Update("title", "x").Error, s.Delete(b).Error)
		}, false},
		{"disabled context", func(ctx context.Context, db *gorm.DB, b *Book) error {
			d := db.WithContext(auditlog.Disable(ctx))
			return errorsJoin(d.Create(&Book{Title: "x"}).Error, d.Model(b).Update("title", "x").Error, d.Delete(b).Error)
		}, true},
		{"unregistered model", func(ctx context.Context, db *gorm.DB, b *Book) error {
			u := Unregistered{Name: "a"}
			return errorsJoin(db.Create(&u).Error, db.Model(&u).Update("name", "b").Error, db.Delete(&u).Error)
		}, false},
		{"rolled-back transaction", func(ctx context.Context, db *gorm.DB, b *Book) error {
			err := db.Transaction(func(tx *gorm.DB) error {
				if err := tx.Create(&Book{Title: "x"}).Error; err != nil {
					return err
				}
				if err := tx.Model(b).Update("title", "x").Error; err != nil {
					return err
				}
				if err := tx.Delete(b).Error; err != nil {
					return err
				}
				return errBoom
			})
			if err != errBoom {
				return err
			}
			return nil
		}, false},
		{"global update without a WHERE is refused", func(ctx context.Context, db *gorm.DB, b *Book) error {
			if err := db.Model(&Book{}).Update("title", "x").Error; err != gorm.ErrMissingWhereClause {
				return err
			}
			return nil
		}, false},
	}
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		reg := setup(t, db, &Book{}, &Unregistered{})
		must(t, reg.Register(&Book{}))
		ctx := context.Background()
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				b := &Book{Title: "A"}
				must(t, db.Create(b).Error)
				before := len(entries(t, db))
				must(t, tc.write(ctx, db, b))
				if es := entries(t, db)[before:]; len(es) != 0 {
					t.Fatalf("want no entry, got %d: %s %s", len(es), es[0].Action, es[0].Changes)
				}
				if tc.writesDB {
					return
				}
				var got Book
				must(t, db.First(&got, b.ID).Error)
				if got.Title != "A" {
					t.Fatalf("row changed: %+v", got)
				}
			})
		}
	})
}

func errorsJoin(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// A nested transaction's rolled-back savepoint takes its entries with it;
// the outer transaction's entries stay.
func TestSavepoint(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		reg := setup(t, db, &Book{})
		must(t, reg.Register(&Book{}))
		err := db.Transaction(func(tx *gorm.DB) error {
			if err := tx.Create(&Book{Title: "outer"}).Error; err != nil {
				return err
			}
			if err := tx.Transaction(func(tx2 *gorm.DB) error {
				if err := tx2.Create(&Book{Title: "inner"}).Error; err != nil {
					return err
				}
				return errBoom
			}); err != errBoom {
				t.Errorf("inner transaction: %v", err)
			}
			return tx.Create(&Book{Title: "outer 2"}).Error
		})
		must(t, err)
		es := expectCount(t, db, 2)
		if es[0].ObjectRepr != "Book outer" || es[1].ObjectRepr != "Book outer 2" {
			t.Fatalf("entries: %q, %q", es[0].ObjectRepr, es[1].ObjectRepr)
		}
		var n int64
		must(t, db.Model(&Book{}).Count(&n).Error)
		if n != 2 {
			t.Fatalf("%d books, want 2", n)
		}
	})
}

// When the entry cannot be written, the change fails and is not committed,
// with GORM's default transaction and without it.
func TestFaultEntryInsertFails(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		reg := setup(t, db, &Book{})
		must(t, reg.Register(&Book{}))
		b := Book{Title: "kept"}
		must(t, db.Create(&b).Error)
		must(t, db.Exec("ALTER TABLE auditlog_entries RENAME TO auditlog_entries_gone").Error)
		for _, skip := range []bool{false, true} {
			s := db.Session(&gorm.Session{SkipDefaultTransaction: skip})
			if err := s.Create(&Book{Title: "new"}).Error; err == nil {
				t.Fatalf("create succeeded without its entry (skip tx %v)", skip)
			}
			if err := s.Model(&b).Update("title", "changed").Error; err == nil {
				t.Fatalf("update succeeded without its entry (skip tx %v)", skip)
			}
			if err := s.Delete(&b).Error; err == nil {
				t.Fatalf("delete succeeded without its entry (skip tx %v)", skip)
			}
		}
		must(t, db.Exec("ALTER TABLE auditlog_entries_gone RENAME TO auditlog_entries").Error)
		var books []Book
		must(t, db.Unscoped().Find(&books).Error)
		if len(books) != 1 || books[0].Title != "kept" || books[0].DeletedAt.Valid {
			t.Fatalf("books after failed writes: %+v", books)
		}
		expectCount(t, db, 1)
	})
}

// With SkipDefaultTransaction the plugin opens a transaction of its own, so
// audited writes still commit with their entries.
func TestSkipDefaultTransaction(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		reg := setup(t, db, &Book{})
		must(t, reg.Register(&Book{}))
		s := db.Session(&gorm.Session{SkipDefaultTransaction: true})
		b := Book{Title: "a"}
		must(t, s.Create(&b).Error)
		must(t, s.Model(&b).Update("title", "b").Error)
		must(t, s.Delete(&b).Error)
		es := expectCount(t, db, 3)
		for i, a := range []auditlog.Action{auditlog.ActionCreate, auditlog.ActionUpdate, auditlog.ActionDelete} {
			if es[i].Action != a {
				t.Fatalf("entry %d is %s, want %s", i, es[i].Action, a)
			}
		}
	})
}

// §10.10, 11: string, UUID-like and composite keys; object_id only for
// integer keys; history finds the entries by object_pk.
func TestPrimaryKeys(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		reg := setup(t, db, &Doc{}, &Line{})
		must(t, reg.Register(&Doc{}))
		must(t, reg.Register(&Line{}))

		d := Doc{Code: "3f2b8c1e-9d4a-4c1b-8e2f-0a1b2c3d4e5f", Body: "v1"}
		must(t, db.Create(&d).Error)
		must(t, db.Model(&d).Update("body", "v2").Error)
		l := Line{OrderID: 7, LineNo: 2, Qty: 1}
		must(t, db.Create(&l).Error)
		must(t, db.Model(&l).Update("qty", 5).Error)
		must(t, db.Delete(&l).Error)

		res, err := auditgorm.History(ctx, db, &d, auditstore.Page{})
		must(t, err)
		if len(res.Entries) != 2 || res.Entries[0].Action != auditlog.ActionUpdate || res.Entries[0].ObjectPK != d.Code || res.Entries[0].ObjectID != nil {
			t.Fatalf("doc history: %+v", res.Entries)
		}
		assertChanges(t, res.Entries[0], `{"body":["v1","v2"]}`)
		all, err := auditgorm.HistoryOf(ctx, db, []Doc{d}, auditstore.Page{})
		must(t, err)
		if len(all.Entries) != 2 {
			t.Fatalf("HistoryOf: %d entries", len(all.Entries))
		}

		res, err = auditgorm.History(ctx, db, &l, auditstore.Page{})
		must(t, err)
		if len(res.Entries) != 3 {
			t.Fatalf("line history: %d entries", len(res.Entries))
		}
		for _, e := range res.Entries {
			if e.ObjectPK != "[7,2]" || e.ObjectID != nil || e.Model != "lines" {
				t.Fatalf("composite key entry: %+v", e)
			}
		}
		assertChanges(t, res.Entries[1], `{"qty":[1,5]}`)
	})
}

// §10.13: entries carry the context's actor, address and correlation id;
// without them, the actor is null.
func TestContextData(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		reg := setup(t, db, &Book{})
		must(t, reg.Register(&Book{}))
		ctx := auditlog.WithActor(context.Background(), auditlog.Actor{ID: "42", Name: "alice"})
		ctx = auditlog.WithRemoteAddr(ctx, "203.0.113.7", 51000)
		ctx = auditlog.WithCorrelationID(ctx, "req-1")
		ctx = auditlog.WithExtra(ctx, map[string]any{"role": "admin"})
		b := Book{Title: "a"}
		must(t, db.WithContext(ctx).Create(&b).Error)
		must(t, db.WithContext(ctx).Model(&b).Update("title", "b").Error)
		must(t, db.WithContext(ctx).Delete(&b).Error)
		must(t, db.Create(&Book{Title: "anonymous"}).Error)
		es := expectCount(t, db, 4)
		for _, e := range es[:3] {
			var extra map[string]any
			must(t, json.Unmarshal(e.AdditionalData, &extra))
			if e.ActorID != "42" || e.ActorName != "alice" || e.RemoteAddr != "203.0.113.7" || e.RemotePort != 51000 || e.CorrelationID != "req-1" || extra["role"] != "admin" {
				t.Fatalf("entry with context: %+v (additional %s)", e, e.AdditionalData)
			}
		}
		if e := es[3]; e.ActorID != "" || e.ActorName != "" || e.RemoteAddr != "" || e.CorrelationID != "" || e.AdditionalData != nil {
			t.Fatalf("entry without context: %+v", e)
		}
	})
}

// §10.8: the timestamp lies within the operation; a manual entry keeps the
// timestamp it was given.
func TestTimestamp(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		reg := setup(t, db, &Book{})
		must(t, reg.Register(&Book{}))
		start := time.Now().Add(-time.Millisecond)
		b := Book{Title: "a"}
		must(t, db.Create(&b).Error)
		end := time.Now().Add(time.Millisecond)
		e := expectCount(t, db, 1)[0]
		if e.Timestamp.Before(start) || e.Timestamp.After(end) || e.Timestamp.Location() != time.UTC {
			t.Fatalf("timestamp %v not in [%v, %v]", e.Timestamp, start, end)
		}
		at := time.Date(2001, 2, 3, 4, 5, 6, 789000, time.UTC)
		must(t, auditgorm.Log(context.Background(), db, auditgorm.Record{Action: auditlog.ActionUpdate, Object: &b, Timestamp: at, Changes: auditlog.Changes{}}))
		if got := expectCount(t, db, 2)[0].Timestamp; !got.Equal(at) {
			t.Fatalf("manual timestamp %v, want %v", got, at)
		}
	})
}

// §10.6, 9: a new object after a delete, and a clone saved with a zero key,
// each get exactly their own create entry; old entries stay.
func TestRecreateAndClone(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		reg := setup(t, db, &Book{})
		must(t, reg.Register(&Book{}))
		b := Book{Title: "a"}
		must(t, db.Create(&b).Error)
		must(t, db.Unscoped().Delete(&b).Error)
		c := Book{Title: "b"}
		must(t, db.Create(&c).Error)
		res, err := auditgorm.History(context.Background(), db, &c, auditstore.Page{})
		must(t, err)
		if len(res.Entries) != 1 || res.Entries[0].Action != auditlog.ActionCreate {
			t.Fatalf("new object's history: %+v", res.Entries)
		}
		expectCount(t, db, 3)
		clone := c
		clone.ID = 0
		must(t, db.Create(&clone).Error)
		if es := expectCount(t, db, 4); es[3].Action != auditlog.ActionCreate || es[3].ObjectID == nil || *es[3].ObjectID != int64(clone.ID) {
			t.Fatalf("clone entry: %+v", es[3])
		}
	})
}

// §10.55: after Unregister nothing is logged; a manual entry still is.
func TestUnregister(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		reg := setup(t, db, &Book{})
		must(t, reg.Register(&Book{}))
		must(t, reg.Register(&Book{})) // twice: still one entry per write
		b := Book{Title: "a"}
		must(t, db.Create(&b).Error)
		expectCount(t, db, 1)
		reg.Unregister(&Book{})
		if reg.Contains(&Book{}) {
			t.Fatal("still registered")
		}
		must(t, db.Model(&b).Update("title", "b").Error)
		must(t, db.Delete(&b).Error)
		must(t, db.Create(&Book{Title: "c"}).Error)
		expectCount(t, db, 1)
		must(t, auditgorm.Log(context.Background(), db, auditgorm.Record{Action: auditlog.ActionUpdate, Object: &b, Changes: auditlog.Changes{}}))
		expectCount(t, db, 2)
	})
}
