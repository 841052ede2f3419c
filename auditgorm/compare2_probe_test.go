package auditgorm_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/auditgorm"
	"github.com/go-auditlog/auditlog/internal/testdb"
)

type NcOwner struct {
	ID   uint
	Tags []NcTag `gorm:"many2many:nc_owner_tags"`
}

type NcTag struct {
	Code string `gorm:"primaryKey;type:text COLLATE NOCASE"`
}

// SQLite, join pairs as maps with DO NOTHING: one new pair and one the
// NOCASE key already holds ("X" vs "x"). GORM inserts the new one (1 row).
func TestCsJoinMapsNocaseMixed(t *testing.T) {
	run := func(db *gorm.DB, audited bool) (string, error) {
		if audited {
			reg := auditlog.NewRegistry()
			must(t, reg.Register(&NcOwner{}, auditlog.M2M("Tags")))
			must(t, db.Use(auditgorm.New(auditgorm.Config{Registry: reg})))
		}
		must(t, db.AutoMigrate(&NcOwner{}, &NcTag{}))
		quiet := db.WithContext(auditlog.Disable(context.Background()))
		must(t, quiet.Create(&NcOwner{ID: 1}).Error)
		must(t, quiet.Create(&[]NcTag{{Code: "x"}, {Code: "y"}}).Error)
		must(t, quiet.Table("nc_owner_tags").Create(map[string]any{"nc_owner_id": 1, "nc_tag_code": "x"}).Error)
		tx := db.Table("nc_owner_tags").Clauses(clause.OnConflict{DoNothing: true}).Create([]map[string]any{
			{"nc_owner_id": 1, "nc_tag_code": "X"}, {"nc_owner_id": 1, "nc_tag_code": "y"}})
		var pairs []string
		must(t, quiet.Raw("SELECT nc_tag_code FROM nc_owner_tags ORDER BY nc_tag_code").Scan(&pairs).Error)
		return fmt.Sprintf("rows %d, pairs %v", tx.RowsAffected, pairs), tx.Error
	}
	want, werr := run(testdb.Open(t, "sqlite"), false)
	db := testdb.Open(t, "sqlite")
	got, err := run(db, true)
	if err != nil || werr != nil || got != want {
		t.Errorf("audited: %s, %v\nwant (GORM alone): %s, %v", got, err, want, werr)
	}
	for _, l := range m2mLines(t, db) {
		t.Log(l)
	}
}

var _ = strings.Contains
