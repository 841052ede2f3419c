package auditgorm_test

import (
	"context"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/schema"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/auditgorm"
	"github.com/go-auditlog/auditlog/auditstore"
)

// JSONDoc is a JSON column: jsonb on PostgreSQL, json elsewhere.
type JSONDoc json.RawMessage

func (JSONDoc) GormDBDataType(db *gorm.DB, _ *schema.Field) string {
	if db.Dialector.Name() == "postgres" {
		return "jsonb"
	}
	return "json"
}

func (j JSONDoc) Value() (driver.Value, error) {
	if j == nil {
		return nil, nil
	}
	return string(j), nil
}

func (j *JSONDoc) Scan(v any) error {
	switch x := v.(type) {
	case nil:
		*j = nil
	case []byte:
		*j = append(JSONDoc(nil), x...)
	case string:
		*j = JSONDoc(x)
	default:
		return fmt.Errorf("JSONDoc: cannot scan %T", v)
	}
	return nil
}

type Address struct {
	City   string
	Street string
}

type Book struct {
	ID        uint
	Title     string
	Price     string `gorm:"type:decimal(10,2);not null;default:0"`
	Secret    string
	Pages     *int
	Published *time.Time
	Meta      JSONDoc
	Tags      []string `gorm:"serializer:json"`
	Address   Address  `gorm:"embedded;embeddedPrefix:addr_"`
	AuthorID  *uint
	CreatedAt time.Time
	UpdatedAt time.Time
	DeletedAt gorm.DeletedAt `gorm:"index"`
}

func (b Book) String() string { return "Book " + b.Title }

type Author struct {
	ID   uint
	Name string
}

func (a Author) String() string { return a.Name }

// Doc has a string primary key set by the application.
type Doc struct {
	Code string `gorm:"primaryKey;size:64"`
	Body string
}

// Line has a composite primary key.
type Line struct {
	OrderID uint `gorm:"primaryKey;autoIncrement:false"`
	LineNo  uint `gorm:"primaryKey;autoIncrement:false"`
	Qty     int
}

// Counter is used by concurrency tests.
type Counter struct {
	ID uint
	N  int
}

// setup returns db with a fresh registry and the plugin installed, and the
// models' tables created.
func setup(t *testing.T, db *gorm.DB, models ...any) *auditlog.Registry {
	t.Helper()
	reg := auditlog.NewRegistry()
	if err := db.Use(auditgorm.New(auditgorm.Config{Registry: reg})); err != nil {
		t.Fatal(err)
	}
	if len(models) > 0 {
		if err := db.AutoMigrate(models...); err != nil {
			t.Fatal(err)
		}
	}
	return reg
}

// testSeed returns the -seed flag, or a random seed, and logs it with the
// command that repeats the run.
func testSeed(t *testing.T) uint64 {
	t.Helper()
	seed := *seedFlag
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (go test ./auditgorm -run '^%s$' -seed %d)", seed, t.Name(), seed)
	return seed
}

// long skips a load, soak, crash or many-row test under -short, so that the
// race pass stays quick; the plain run has them all.
func long(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("a long test: it runs without -short")
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// entries returns every entry in the table, oldest first.
func entries(t *testing.T, db *gorm.DB) []auditlog.Entry {
	t.Helper()
	s, err := auditgorm.NewStore(db)
	must(t, err)
	var all []auditlog.Entry
	p := auditstore.Page{Limit: 1000}
	for {
		res, err := s.List(context.Background(), auditstore.Filter{}, p)
		must(t, err)
		all = append(all, res.Entries...)
		if res.Next == "" {
			break
		}
		p.Cursor = res.Next
	}
	for i, j := 0, len(all)-1; i < j; i, j = i+1, j-1 {
		all[i], all[j] = all[j], all[i]
	}
	return all
}

// changesJSON decodes an entry's changes into plain JSON values for
// comparison.
func changesJSON(t *testing.T, e auditlog.Entry) map[string]any {
	t.Helper()
	if e.Changes == nil {
		return nil
	}
	raw, err := json.Marshal(e.Changes)
	must(t, err)
	var out map[string]any
	must(t, json.Unmarshal(raw, &out))
	return out
}

func wantJSON(t *testing.T, s string) map[string]any {
	t.Helper()
	var out map[string]any
	must(t, json.Unmarshal([]byte(s), &out))
	return out
}

func expectCount(t *testing.T, db *gorm.DB, n int) []auditlog.Entry {
	t.Helper()
	es := entries(t, db)
	if len(es) != n {
		for _, e := range es {
			t.Logf("entry %d %s %s %s %s", e.ID, e.Action, e.Model, e.ObjectPK, e.Changes)
		}
		t.Fatalf("got %d entries, want %d", len(es), n)
	}
	return es
}

var errBoom = errors.New("boom")
