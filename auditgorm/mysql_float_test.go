package auditgorm_test

import (
	"context"
	"os"
	"strconv"
	"testing"

	"gorm.io/gorm/clause"

	"github.com/go-auditlog/auditlog/auditgorm"
	"github.com/go-auditlog/auditlog/internal/testdb"
)

// F32 has a float32 field, a FLOAT column on MySQL, and a float64 one
// stored as FLOAT by its tag.
type F32 struct {
	ID   uint
	V    float32
	W    float64 `gorm:"type:float"`
	D    float64
	Name string
}

// MySQL's text protocol (the DSN's interpolateParams, as the tests and
// many applications use) prints a FLOAT with 6 digits: the plugin's reads
// got 1.23457 for 1.2345678, recorded a value the table does not hold,
// and an update in the 7th digit made no entry. Every read the plugin
// sends selects a float column as a double, exact in both protocols.
func TestMySQLFloatColumnsRecordedExactly(t *testing.T) {
	if os.Getenv(testdb.MySQLEnv) == "" {
		t.Skip("MySQL's FLOAT")
	}
	db := testdb.Open(t, "mysql")
	reg := setup(t, db, &F32{})
	must(t, reg.Register(&F32{}))
	stored := func(id uint) (v, w, d string) {
		t.Helper()
		var fv, fw, fd float64
		must(t, db.Raw("SELECT v + 0e0, w + 0e0, d FROM f32 WHERE id = ?", id).Row().Scan(&fv, &fw, &fd))
		f := func(x float64) string { return strconv.FormatFloat(x, 'g', -1, 64) }
		return f(fv), f(fw), f(fd)
	}
	check := func(what string, id uint) {
		t.Helper()
		es := entries(t, db)
		e := es[len(es)-1]
		v, w, d := stored(id)
		for col, want := range map[string]string{"v": v, "w": w, "d": d} {
			if c, ok := e.Changes[col]; ok && string(c.New) != want {
				t.Errorf("%s: %s recorded as %s; the table holds %s", what, col, c.New, want)
			}
		}
	}
	a := F32{V: 1.2345678, W: 2.3456789, D: 0.1 + 0.2, Name: "a"}
	must(t, db.Create(&a).Error)
	check("create", a.ID)
	n := len(entries(t, db))
	must(t, db.Model(&a).Update("v", float32(1.2345679)).Error)
	must(t, db.Model(&a).Update("w", 2.3456788).Error)
	if len(entries(t, db)) != n+2 {
		t.Fatal("an update in the 7th digit made no entry")
	}
	check("update", a.ID)
	// Revert compares the row as it is with the entry: exactly.
	es := entries(t, db)
	must(t, auditgorm.Revert(context.Background(), db, es[len(es)-2].ID, auditgorm.RevertOptions{}))
	if v, _, _ := stored(a.ID); v != strconv.FormatFloat(float64(float32(1.2345678)), 'g', -1, 64) {
		t.Errorf("reverted v to %s", v)
	}
	b := F32{ID: a.ID, V: 3.1415927, W: 2.7182817, Name: "upserted"}
	must(t, db.Clauses(clause.OnConflict{UpdateAll: true}).Create(&b).Error)
	check("upsert", a.ID)
	must(t, db.Delete(&F32{ID: a.ID}).Error)
	es = entries(t, db)
	if got := string(es[len(es)-1].Changes["v"].Old); got != strconv.FormatFloat(float64(float32(3.1415927)), 'g', -1, 64) {
		t.Errorf("the delete recorded v as %s", got)
	}
}
