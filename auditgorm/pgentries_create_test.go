package auditgorm_test

// More edge cases of the PostgreSQL statements that write their own
// entries: the create path (insertReturning with its _ac/_ag aliases and
// written flag), its fallbacks, and odd column names, each against the Go
// side.

import (
	"context"
	"strings"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/go-auditlog/auditlog"
)

// --- associations created in the same Create -------------------------

type AkOwner struct {
	ID     int64
	Name   string
	Pet    AkPet     `gorm:"foreignKey:OwnerID"`
	Items  []AkItem  `gorm:"foreignKey:OwnerID"`
	Labels []AkLabel `gorm:"many2many:ak_owner_labels"`
}

type AkPet struct {
	ID      int64
	OwnerID int64
	Name    string
}

type AkItem struct {
	ID      int64
	OwnerID int64
	Name    string
}

type AkLabel struct {
	ID   int64
	Name string
}

func TestPGEntriesCreateWithAssociations(t *testing.T) {
	inSQL, inGo, n := pathPair(t, func(reg *auditlog.Registry) {
		must(t, reg.Register(&AkOwner{}, auditlog.Snapshot(), auditlog.M2M("Labels")))
		must(t, reg.Register(&AkPet{}, auditlog.Snapshot()))
		must(t, reg.Register(&AkItem{}, auditlog.Snapshot()))
		must(t, reg.Register(&AkLabel{}, auditlog.Snapshot()))
	}, nil, &AkOwner{}, &AkPet{}, &AkItem{}, &AkLabel{})
	for _, db := range []*gorm.DB{inSQL, inGo} {
		o := &AkOwner{ID: 1000, Name: "o", Pet: AkPet{ID: 10, Name: "p"}, Items: []AkItem{{ID: 20, Name: "i1"}, {ID: 21, Name: "i2"}},
			Labels: []AkLabel{{ID: 30, Name: "l1"}, {ID: 31, Name: "l2"}}}
		must(t, db.Create(o).Error)
		// Auto-increment keys assigned by the database, and a second owner
		// whose associations exist already.
		o2 := &AkOwner{Name: "o2", Items: []AkItem{{Name: "auto"}}, Labels: []AkLabel{{ID: 30, Name: "l1"}}}
		must(t, db.Create(o2).Error)
		if err := db.Save(&AkOwner{ID: 1000, Name: "o-saved", Pet: AkPet{ID: 10, OwnerID: 1000, Name: "p2"}}).Error; err != nil {
			t.Errorf("%s: save: %v", map[*gorm.DB]string{inSQL: "SQL", inGo: "Go"}[db], err)
		}
	}
	if n.Load() == 0 {
		t.Fatal("the SQL path did not run")
	}
	sameRows(t, byObject(entryRows(t, inSQL)), byObject(entryRows(t, inGo)))
}

// --- hooks that modify the object ----------------------------------

type AkHooked struct {
	ID    int64
	Name  string
	Stage string
	Note  string
}

func (h *AkHooked) BeforeCreate(tx *gorm.DB) error {
	h.Stage = "before-" + h.Name
	return nil
}

func (h *AkHooked) AfterCreate(tx *gorm.DB) error {
	h.Note = "after"
	return tx.Model(h).Update("note", "after:"+h.Stage).Error
}

func TestPGEntriesCreateHooks(t *testing.T) {
	inSQL, inGo, n := pathPair(t, func(reg *auditlog.Registry) { must(t, reg.Register(&AkHooked{}, auditlog.Snapshot())) }, nil, &AkHooked{})
	for _, db := range []*gorm.DB{inSQL, inGo} {
		must(t, db.Create(&AkHooked{ID: 1, Name: "a"}).Error)
		must(t, db.Create([]*AkHooked{{ID: 2, Name: "b"}, {ID: 3, Name: "c"}}).Error)
		must(t, db.CreateInBatches([]*AkHooked{{ID: 4, Name: "d"}, {ID: 5, Name: "e"}, {ID: 6, Name: "f"}}, 2).Error)
		var h AkHooked
		must(t, db.Where(AkHooked{Name: "g"}).Attrs(AkHooked{ID: 7}).FirstOrCreate(&h).Error)
	}
	if n.Load() == 0 {
		t.Fatal("the SQL path did not run")
	}
	sameRows(t, byObject(entryRows(t, inSQL)), byObject(entryRows(t, inGo)))
	// Each object's create comes before its update, on both.
	for _, db := range []*gorm.DB{inSQL, inGo} {
		es := entries(t, db)
		seen := map[string]bool{}
		for _, e := range es {
			if e.Action == auditlog.ActionUpdate && !seen[e.ObjectPK] {
				t.Errorf("object %s: update entry %d listed before its create", e.ObjectPK, e.ID)
			}
			if e.Action == auditlog.ActionCreate {
				seen[e.ObjectPK] = true
			}
		}
	}
}

// --- database defaults, auto times as integers, serializers, generated

type AkDefaults struct {
	ID     int64
	Name   string
	Status string    `gorm:"default:new"`
	Score  int       `gorm:"default:7"`
	Rate   float64   `gorm:"default:0.1"`
	Ms     int64     `gorm:"autoCreateTime:milli"`
	Ns     int64     `gorm:"autoCreateTime:nano"`
	UpdMs  int64     `gorm:"autoUpdateTime:milli"`
	Secs   int64     `gorm:"autoCreateTime"`
	Twice  int64     `gorm:"->;type:bigint GENERATED ALWAYS AS (score * 2) STORED;default:(-)"`
	Made   time.Time `gorm:"default:now()"`
}

func TestPGEntriesCreateDefaults(t *testing.T) {
	inSQL, inGo, n := pathPair(t, func(reg *auditlog.Registry) { must(t, reg.Register(&AkDefaults{}, auditlog.Snapshot())) }, nil, &AkDefaults{})
	made := time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC)
	for _, db := range []*gorm.DB{inSQL, inGo} {
		must(t, db.Create(&AkDefaults{ID: 1, Name: "a", Made: made}).Error)
		must(t, db.Create([]*AkDefaults{{ID: 2, Name: "b", Score: 3, Made: made}, {ID: 3, Status: "set", Made: made}}).Error)
		must(t, db.Model(&AkDefaults{ID: 2}).Updates(map[string]any{"score": 9}).Error)
		must(t, db.Save(&AkDefaults{ID: 3, Name: "saved", Status: "s", Made: made}).Error)
		must(t, db.Delete(&AkDefaults{ID: 1}).Error)
	}
	if n.Load() == 0 {
		t.Fatal("the SQL path did not run")
	}
	sameRows(t, byObject(entryRows(t, inSQL)), byObject(entryRows(t, inGo)))
}

// AkUUID has a key the database generates.
type AkUUID struct {
	ID   string `gorm:"type:uuid;default:gen_random_uuid()"`
	Name string
}

// TestPGEntriesCreateDBKey: every created row's entry names the key the
// database gave it, and its changes hold that key.
func TestPGEntriesCreateDBKey(t *testing.T) {
	inSQL, inGo, n := pathPair(t, func(reg *auditlog.Registry) { must(t, reg.Register(&AkUUID{}, auditlog.Snapshot())) }, nil, &AkUUID{})
	for _, db := range []*gorm.DB{inSQL, inGo} {
		name := map[*gorm.DB]string{inSQL: "SQL", inGo: "Go"}[db]
		rows := []*AkUUID{{Name: "a"}, {Name: "b"}, {Name: "c"}}
		must(t, db.Create(rows).Error)
		es := expectCount(t, db, 3)
		for i, e := range es {
			if rows[i].ID == "" || e.ObjectPK != rows[i].ID {
				t.Errorf("%s: entry %d names %q, object has %q", name, i, e.ObjectPK, rows[i].ID)
			}
			if got := string(e.Changes["id"].New); got != `"`+rows[i].ID+`"` {
				t.Errorf("%s: entry %d id change %s", name, i, got)
			}
		}
	}
	if n.Load() == 0 {
		t.Fatal("the SQL path did not run")
	}
}

// --- odd names of the create path's own aliases -------------------

type AkOddCreate struct {
	ID  int64
	X   string `gorm:"column:_x"`
	Ag0 string `gorm:"column:_ag0"`
	Ac0 string `gorm:"column:_ac0"`
}

// AkWritten has a column named like the create path's flag.
type AkWritten struct {
	ID      int64
	Name    string
	Written bool `gorm:"column:_awritten"`
}

// TestPGEntriesCreateWrittenColumn: a model column named _awritten, as the
// flag that marks rows whose entries the INSERT wrote: the flag is read by
// its place, so the column is recorded as the Go side records it.
func TestPGEntriesCreateWrittenColumn(t *testing.T) {
	inSQL, inGo, n := pathPair(t, func(reg *auditlog.Registry) { must(t, reg.Register(&AkWritten{}, auditlog.Snapshot())) }, nil, &AkWritten{})
	for _, db := range []*gorm.DB{inSQL, inGo} {
		name := map[*gorm.DB]string{inSQL: "SQL", inGo: "Go"}[db]
		// A row SQL leaves to the client (its text is too large): no error,
		// but its entry takes the flag (false) for the column (true).
		if err := db.Create(&AkWritten{ID: 1, Name: strings.Repeat("x", pgMaxTextForTest+1), Written: true}).Error; err != nil {
			t.Errorf("%s path: create of a large row: %v", name, err)
		}
		if es := entries(t, db); len(es) == 1 {
			if got := string(es[0].Changes["_awritten"].New); got != "true" {
				t.Errorf("%s path: the large row's entry records _awritten = %s; the row holds true", name, got)
			}
		}
		if err := db.Create([]*AkWritten{{ID: 2, Name: "a"}, {ID: 3, Name: "b", Written: true}}).Error; err != nil {
			t.Errorf("%s path: create: %v", name, err)
		}
	}
	if n.Load() == 0 {
		t.Fatal("the SQL path did not run")
	}
	if a, b := len(entries(t, inSQL)), len(entries(t, inGo)); a != b {
		t.Errorf("%d entries with SQL entries on, %d in Go", a, b)
	}
}

func TestPGEntriesCreateOddNames(t *testing.T) {
	inSQL, inGo, n := pathPair(t, func(reg *auditlog.Registry) { must(t, reg.Register(&AkOddCreate{}, auditlog.Snapshot())) }, nil, &AkOddCreate{})
	for _, db := range []*gorm.DB{inSQL, inGo} {
		name := map[*gorm.DB]string{inSQL: "SQL", inGo: "Go"}[db]
		if err := db.Create([]*AkOddCreate{{X: "x", Ag0: "g", Ac0: "c"}, {X: "y"}}).Error; err != nil {
			t.Errorf("%s: create: %v", name, err)
		}
	}
	if n.Load() == 0 {
		t.Fatal("the SQL path did not run")
	}
	sameEntries(t, inSQL, inGo)
}

// --- bind-variable limit on create ---------------------------------

type AkWideRow struct {
	ID int64 `gorm:"autoIncrement:false;primaryKey"`
	A  string
	B  string
	C  string
	D  string
}

func TestPGEntriesCreateBindLimit(t *testing.T) {
	inSQL, inGo, _ := pathPair(t, func(reg *auditlog.Registry) { must(t, reg.Register(&AkWideRow{})) }, nil, &AkWideRow{})
	// 5 columns × 13,106 rows = 65,530 bind variables: the entries' 8 more
	// would pass 65,535.
	rows := make([]AkWideRow, 13106)
	for i := range rows {
		rows[i] = AkWideRow{ID: int64(i + 1), A: "a"}
	}
	for _, db := range []*gorm.DB{inSQL, inGo} {
		name := map[*gorm.DB]string{inSQL: "SQL", inGo: "Go"}[db]
		cp := append([]AkWideRow(nil), rows...)
		if err := db.Create(&cp).Error; err != nil {
			t.Errorf("%s: create of %d rows: %.300v", name, len(cp), err)
		}
	}
	sameEntries(t, inSQL, inGo)
}

type AkSerial struct {
	ID    int64
	Tags  []string       `gorm:"serializer:json"`
	Meta  map[string]any `gorm:"serializer:json;type:jsonb"`
	Stamp int64          `gorm:"serializer:unixtime;type:timestamptz"`
}

func TestPGEntriesSerializers(t *testing.T) {
	inSQL, inGo, n := pathPair(t, func(reg *auditlog.Registry) { must(t, reg.Register(&AkSerial{}, auditlog.Snapshot())) }, nil, &AkSerial{})
	for _, db := range []*gorm.DB{inSQL, inGo} {
		must(t, db.Create(&AkSerial{ID: 1, Tags: []string{"x", "<y>"}, Meta: map[string]any{"k": 1.5, "b": []any{1, "x"}}, Stamp: 1700000000}).Error)
		must(t, db.Model(&AkSerial{ID: 1}).Updates(&AkSerial{Meta: map[string]any{"k": 2}, Stamp: 1700000001}).Error)
		must(t, db.Delete(&AkSerial{ID: 1}).Error)
	}
	t.Logf("SQL statements: %d", n.Load())
	sameEntries(t, inSQL, inGo)
}

func TestPGEntriesCreateMaps(t *testing.T) {
	inSQL, inGo, n := pathPair(t, func(reg *auditlog.Registry) { must(t, reg.Register(&AkDefaults{}, auditlog.Snapshot())) }, nil, &AkDefaults{})
	made := time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC)
	for _, db := range []*gorm.DB{inSQL, inGo} {
		name := map[*gorm.DB]string{inSQL: "SQL", inGo: "Go"}[db]
		if err := db.Model(&AkDefaults{}).Create(map[string]any{"Name": "m1", "Made": made}).Error; err != nil {
			t.Errorf("%s: map create: %v", name, err)
		}
		if err := db.Model(&AkDefaults{}).Create(map[string]any{"Name": "m2", "Made": made, "ID": 50}).Error; err != nil {
			t.Errorf("%s: map create with a key: %v", name, err)
		}
	}
	t.Logf("SQL statements: %d", n.Load())
	sameRows(t, byObject(entryRows(t, inSQL)), byObject(entryRows(t, inGo)))
}

// AkAo has a column named like the alias of another field's old value.
type AkAo struct {
	ID   int64
	Name string
	Ao0  string `gorm:"column:_ao0"`
}

// TestPGEntriesReservedColumn: a column named like the plugin's own
// column aliases would be read as one of them: auditing such a model fails
// with a message that names the column, on both paths.
func TestPGEntriesReservedColumn(t *testing.T) {
	inSQL, inGo, _ := pathPair(t, func(reg *auditlog.Registry) { must(t, reg.Register(&AkAo{})) }, nil, &AkAo{})
	for _, db := range []*gorm.DB{inSQL, inGo} {
		err := db.Create(&AkAo{ID: 1, Name: "a", Ao0: "x"}).Error
		if err == nil || !strings.Contains(err.Error(), "column _ao0 has a name the plugin gives") {
			t.Errorf("create: %v, want the column named", err)
		}
	}
}

// AkHolder has a has-one relation to a model with an excluded field.
type AkHolder struct {
	ID    int64
	Name  string
	Vault AkVault `gorm:"foreignKey:HolderID"`
}

type AkVault struct {
	ID       int64
	HolderID int64
	Secret   string
}

// TestPGEntriesCreateRelatedSecretScrub: the Go side scrubs, from a
// created object's entry, the clear values of excluded fields of the
// related objects loaded into it (they may reach additional_data through
// the context's data): such a create's entry is written by the Go side.
func TestPGEntriesCreateRelatedSecretScrub(t *testing.T) {
	const secret = "vault-secret-42"
	inSQL, inGo, n := pathPair(t, func(reg *auditlog.Registry) {
		must(t, reg.Register(&AkHolder{}))
		must(t, reg.Register(&AkVault{}, auditlog.Exclude("Secret")))
	}, nil, &AkHolder{}, &AkVault{})
	ctx := auditlog.WithExtra(context.Background(), map[string]any{"note": "rotated " + secret})
	for _, db := range []*gorm.DB{inSQL, inGo} {
		must(t, db.WithContext(ctx).Create(&AkHolder{ID: 1, Name: "h", Vault: AkVault{ID: 2, Secret: secret}}).Error)
	}
	_ = n
	sameRows(t, byObject(entryRows(t, inSQL)), byObject(entryRows(t, inGo)))
	for _, r := range entryRows(t, inSQL) {
		if r[2] == "ak_holders" && strings.Contains(strings.Join(r, " "), secret) {
			t.Errorf("SQL path: an excluded value is in the holder's entry: %s", r[8])
		}
	}
}

func TestPGEntriesSaveAndFirstOrCreate(t *testing.T) {
	inSQL, inGo, n := pathPair(t, func(reg *auditlog.Registry) { must(t, reg.Register(&AkHooked{}, auditlog.Snapshot())) }, nil, &AkHooked{})
	for _, db := range []*gorm.DB{inSQL, inGo} {
		name := map[*gorm.DB]string{inSQL: "SQL", inGo: "Go"}[db]
		// Save of a key that is not there: an update of no row, then an
		// upsert.
		if err := db.Save(&AkHooked{ID: 40, Name: "new"}).Error; err != nil {
			t.Errorf("%s: save new: %v", name, err)
		}
		if err := db.Save(&AkHooked{ID: 40, Name: "again"}).Error; err != nil {
			t.Errorf("%s: save existing: %v", name, err)
		}
		var h AkHooked
		if err := db.Where(AkHooked{ID: 40}).Assign(AkHooked{Name: "assigned"}).FirstOrCreate(&h).Error; err != nil {
			t.Errorf("%s: assign: %v", name, err)
		}
		var h2 AkHooked
		if err := db.Where(AkHooked{ID: 41}).Assign(AkHooked{Name: "assigned"}).FirstOrCreate(&h2).Error; err != nil {
			t.Errorf("%s: assign new: %v", name, err)
		}
		var c int64
		must(t, db.Model(&AkHooked{}).Count(&c).Error)
		if c != 2 {
			t.Errorf("%s: %d rows", name, c)
		}
	}
	t.Logf("SQL statements %d", n.Load())
	sameRows(t, byObject(entryRows(t, inSQL)), byObject(entryRows(t, inGo)))
}
