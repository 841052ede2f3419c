package auditgorm_test

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/internal/testdb"
)

// §10.22, 23: Include audits only the listed fields; Exclude wins; a change
// only to fields that are not audited writes nothing.
func TestIncludeExclude(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		reg := setup(t, db, &Book{}, &Doc{})
		must(t, reg.Register(&Book{}, auditlog.Include("Title", "secret", "Price", "DeletedAt"), auditlog.Exclude("price")))
		must(t, reg.Register(&Doc{}, auditlog.Exclude("Body")))
		b := Book{Title: "a", Secret: "s", Price: "1"}
		must(t, db.Create(&b).Error)
		assertChanges(t, expectCount(t, db, 1)[0], `{"title":[null,"a"],"secret":[null,"s"]}`)
		must(t, db.Model(&b).Updates(map[string]any{"price": "2", "addr_city": "x"}).Error)
		expectCount(t, db, 1)
		must(t, db.Model(&b).Updates(map[string]any{"price": "3", "title": "b"}).Error)
		assertChanges(t, expectCount(t, db, 2)[1], `{"title":["a","b"]}`)

		d := Doc{Code: "c1", Body: "x"}
		must(t, db.Create(&d).Error)
		must(t, db.Model(&d).Update("body", "y").Error)
		es := expectCount(t, db, 3)
		assertChanges(t, es[2], `{"code":[null,"c1"]}`)
	})
}

// §10.25, 26, 27: masked fields are stored masked, on both sides and in the
// snapshot; a nil stays null; per-model and per-registry mask functions.
func TestMask(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		reg := setup(t, db, &Book{}, &Doc{})
		must(t, reg.Register(&Book{}, auditlog.Mask("Secret", "Pages"), auditlog.Include("Secret", "Pages", "DeletedAt"), auditlog.Snapshot(), auditlog.SnapshotAuditedOnly()))
		b := Book{Title: "t", Secret: "Sensitive data"}
		must(t, db.Create(&b).Error)
		e := expectCount(t, db, 1)[0]
		assertChanges(t, e, `{"secret":[null,"***********ata"]}`)
		var snap struct {
			Fields map[string]any `json:"fields"`
		}
		must(t, json.Unmarshal(e.SerializedData, &snap))
		if want := map[string]any{"secret": "***********ata", "pages": nil, "deleted_at": nil}; !reflect.DeepEqual(snap.Fields, want) {
			t.Fatalf("snapshot fields %v, want %v", snap.Fields, want)
		}
		pages := 1234
		must(t, db.Model(&b).Updates(Book{Secret: "confidential", Pages: &pages}).Error)
		assertChanges(t, expectCount(t, db, 2)[1], `{"secret":["***********ata","*********ial"],"pages":[null,"***4"]}`)

		reg.SetMask(func(s string) string { return "****" + s[max(0, len(s)-4):] })
		must(t, reg.Register(&Doc{}, auditlog.Mask("Body")))
		must(t, db.Create(&Doc{Code: "d", Body: "1234567890123456"}).Error)
		assertChanges(t, expectCount(t, db, 3)[2], `{"code":[null,"d"],"body":[null,"****3456"]}`)
		must(t, reg.Reregister(&Doc{}, auditlog.Mask("Body"), auditlog.MaskWith(func(string) string { return "x" })))
		must(t, db.Model(&Doc{Code: "d"}).Update("body", "9876543210987654").Error)
		assertChanges(t, expectCount(t, db, 4)[3], `{"body":["x","x"]}`)
	})
}

type Profile struct {
	ID       uint
	Name     string
	AuthorID uint
}

func (p *Profile) AuditAdditionalData() any { return map[string]any{"author": p.AuthorID} }

// §10.28: additional data from the model's method, merged with the
// context's extra data; null when there is none.
func TestAdditionalData(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		reg := setup(t, db, &Profile{}, &Doc{})
		must(t, reg.Register(&Profile{}))
		must(t, reg.Register(&Doc{}))
		must(t, db.Create(&Doc{Code: "x"}).Error)
		ctx := auditlog.WithExtra(context.Background(), map[string]any{"job": "import"})
		must(t, db.WithContext(ctx).Create(&Profile{Name: "p", AuthorID: 9}).Error)
		es := expectCount(t, db, 2)
		if es[0].AdditionalData != nil {
			t.Fatalf("additional data without a method: %s", es[0].AdditionalData)
		}
		var got map[string]any
		must(t, json.Unmarshal(es[1].AdditionalData, &got))
		if want := map[string]any{"author": 9.0, "job": "import"}; !reflect.DeepEqual(got, want) {
			t.Fatalf("additional data %v, want %v", got, want)
		}
	})
}

// §10.57, 58: the snapshot holds the full state, with nulls, on create,
// update and delete; it can be limited to fields; it is null when not
// configured.
func TestSnapshot(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		reg := setup(t, db, &Book{}, &Doc{})
		must(t, reg.Register(&Book{}, auditlog.Snapshot(), auditlog.SnapshotFields("Title", "Pages")))
		must(t, reg.Register(&Doc{}))
		b := Book{Title: "a"}
		must(t, db.Create(&b).Error)
		must(t, db.Model(&b).Update("title", "b").Error)
		must(t, db.Unscoped().Delete(&b).Error)
		must(t, db.Create(&Doc{Code: "d"}).Error)
		es := expectCount(t, db, 4)
		for i, want := range []string{
			`{"model":"books","pk":1,"fields":{"title":"a","pages":null}}`,
			`{"model":"books","pk":1,"fields":{"title":"b","pages":null}}`,
			`{"model":"books","pk":1,"fields":{"title":"b","pages":null}}`,
		} {
			var got, w any
			must(t, json.Unmarshal(es[i].SerializedData, &got))
			must(t, json.Unmarshal([]byte(want), &w))
			if !reflect.DeepEqual(got, w) {
				t.Fatalf("snapshot %d = %s, want %s", i, es[i].SerializedData, want)
			}
		}
		if es[3].SerializedData != nil {
			t.Fatalf("snapshot without Snapshot(): %s", es[3].SerializedData)
		}
	})
}

type Event struct {
	ID   uint
	At   time.Time
	Date *time.Time
}

// §10.29: the same instant in another zone is no change; another instant
// is. Re-saving an unchanged row is a no-op at the column's precision.
func TestTimes(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		reg := setup(t, db, &Event{})
		must(t, reg.Register(&Event{}))
		noon := time.Date(2024, 5, 6, 12, 0, 0, 123456789, time.UTC)
		ev := Event{At: noon}
		must(t, db.Create(&ev).Error)
		must(t, db.Save(&ev).Error) // nanoseconds in Go, fewer in the column
		var loaded Event
		must(t, db.First(&loaded, ev.ID).Error)
		must(t, db.Save(&loaded).Error)
		plusOne := time.FixedZone("+01", 3600)
		must(t, db.Model(&ev).Update("at", noon.In(plusOne)).Error)
		expectCount(t, db, 1)
		must(t, db.Model(&ev).Update("at", time.Date(2024, 5, 6, 14, 0, 0, 0, plusOne)).Error)
		e := expectCount(t, db, 2)[1]
		c := e.Changes["at"]
		if len(e.Changes) != 1 || !strings.HasPrefix(string(c.New), `"2024-05-06T13:00:00`) || !strings.HasPrefix(string(c.Old), `"2024-05-06T12:00:00`) {
			t.Fatalf("time change %s", e.Changes)
		}
		must(t, db.Model(&ev).Update("date", noon).Error)
		e = expectCount(t, db, 3)[2]
		if string(e.Changes["date"].Old) != "null" {
			t.Fatalf("date change %s", e.Changes)
		}
	})
}

type Toggle struct {
	ID     uint
	On     bool
	Maybe  *bool
	Strict bool `gorm:"type:boolean"`
}

// A bool is recorded as true or false on every database, whatever column
// type the dialect gives it (NUMERIC on SQLite, BOOLEAN or TINYINT(1)
// elsewhere) and whether the driver returns a bool, 0 or 1, or text.
func TestBools(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		reg := setup(t, db, &Toggle{})
		must(t, reg.Register(&Toggle{}))
		yes := true
		tg := Toggle{On: true, Maybe: &yes, Strict: true}
		must(t, db.Create(&tg).Error)
		must(t, db.Model(&tg).Updates(map[string]any{"on": false, "maybe": false, "strict": false}).Error)
		must(t, db.Delete(&tg).Error)
		es := expectCount(t, db, 3)
		for i, want := range []string{
			`{"id":[null,1],"on":[null,true],"maybe":[null,true],"strict":[null,true]}`,
			`{"on":[true,false],"maybe":[true,false],"strict":[true,false]}`,
			`{"id":[1,null],"on":[false,null],"maybe":[false,null],"strict":[false,null]}`,
		} {
			if got := changesJSON(t, es[i]); !reflect.DeepEqual(got, wantJSON(t, want)) {
				t.Errorf("entry %d changes %v, want %s", i+1, got, want)
			}
		}
	})
}

type Setting struct {
	ID   uint
	Data JSONDoc
}

// §10.32, 33: JSON columns are stored as JSON and compared semantically.
func TestJSONColumn(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		reg := setup(t, db, &Setting{})
		must(t, reg.Register(&Setting{}))
		s := Setting{Data: JSONDoc(`{}`)}
		must(t, db.Create(&s).Error)
		must(t, db.Model(&s).Update("data", JSONDoc(`{"quantity": "1", "b": [1, 2]}`)).Error)
		assertChanges(t, expectCount(t, db, 2)[1], `{"data":[{},{"quantity":"1","b":[1,2]}]}`)
		must(t, db.Model(&s).Update("data", JSONDoc(`{"b":[1,2],"quantity":"1"}`)).Error)
		expectCount(t, db, 2)
	})
}

type Item struct {
	ID    uint
	Price string `gorm:"type:decimal(10,2)"`
	Ratio float64
}

// Decimals compare by value and keep their text.
func TestDecimal(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		reg := setup(t, db, &Item{})
		must(t, reg.Register(&Item{}))
		it := Item{Price: "44.00", Ratio: 0.5}
		must(t, db.Create(&it).Error)
		must(t, db.Model(&it).Updates(map[string]any{"price": "44.0", "ratio": 0.5}).Error)
		expectCount(t, db, 1)
		must(t, db.Model(&it).Update("price", "44.10").Error)
		e := expectCount(t, db, 2)[1]
		want := "44.10" // as the DECIMAL(10,2) column stores it
		if db.Dialector.Name() == "sqlite" {
			want = "44.1" // SQLite stores a REAL
		}
		if got := e.Changes["price"].NewValue(); got != want {
			t.Fatalf("new price %v (%s)", got, e.Changes)
		}
	})
}

type Shelf struct {
	ID      uint
	Label   string
	BookID  *uint
	Book    *Author `gorm:"foreignKey:BookID"`
	OwnerID uint
}

// §10.41-43: a foreign key change records the related key; changing the
// related object alone writes no entry on the referencing one; switching
// between two objects with the same repr is still logged.
func TestForeignKeys(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		reg := setup(t, db, &Author{}, &Shelf{})
		must(t, reg.Register(&Shelf{}, auditlog.Include("BookID")))
		must(t, reg.Register(&Author{}))
		a1, a2 := Author{Name: "same"}, Author{Name: "same"}
		must(t, db.Create(&a1).Error)
		must(t, db.Create(&a2).Error)
		s := Shelf{Label: "s", BookID: &a1.ID}
		must(t, db.Omit("Book").Create(&s).Error)
		es := expectCount(t, db, 3)
		assertChanges(t, es[2], `{"book_id":[null,1]}`)
		must(t, db.Model(&a1).Update("name", "renamed").Error)
		if es := expectCount(t, db, 4); es[3].Model != "authors" {
			t.Fatalf("related change logged on %s", es[3].Model)
		}
		must(t, db.Model(&s).Update("book_id", a2.ID).Error)
		assertChanges(t, expectCount(t, db, 5)[4], `{"book_id":[1,2]}`)
	})
}

// Registry.SetMask applies to the next write of every model that has no
// mask of its own, those written before too: a model's mask was taken
// when it was first written, so a stricter mask set later (redact all,
// say) left the model recording what the old one showed.
func TestSetMaskAppliesToModelsInUse(t *testing.T) {
	t.Parallel()
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		reg := setup(t, db, &TTPlain{})
		must(t, reg.Register(&TTPlain{}, auditlog.Mask("Name")))
		p := TTPlain{Name: "4111111111111111", N: 1}
		must(t, db.Create(&p).Error)
		if got := string(lastEntry(t, db).Changes["name"].New); got != `"************1111"` {
			t.Fatalf("name under the default mask: %s", got)
		}
		reg.SetMask(func(string) string { return "[redacted]" })
		must(t, db.Model(&p).Update("name", "5555444433332222").Error)
		if got := lastEntry(t, db).Changes["name"]; string(got.New) != `"[redacted]"` {
			t.Fatalf("name after SetMask: %s → %s, want the new mask's text", got.Old, got.New)
		}
	})
}
