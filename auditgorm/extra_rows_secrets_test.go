package auditgorm_test

import (
	"context"
	"strings"
	"testing"

	"gorm.io/gorm"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/auditgorm"
	"github.com/go-auditlog/auditlog/internal/testdb"
)

type PinMember struct {
	ID     uint
	Name   string
	Pin    string     `gorm:"size:64"`
	Squads []PinSquad `gorm:"many2many:pin_squad_members"`
}

type PinSquad struct {
	ID      uint
	Name    string
	Members []PinMember `gorm:"many2many:pin_squad_members"`
}

// TestExtraDataScrubbedOfEveryRowOfTheWrite: the context's extra data, one
// for every entry of a statement, was scrubbed of each entry's own row's
// secrets only, so a statement that wrote several rows (a batch create,
// an update or delete by conditions, an append of two objects) stored
// the other rows' excluded values in clear in each entry.
func TestExtraDataScrubbedOfEveryRowOfTheWrite(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		reg := setup(t, db, &PinMember{}, &PinSquad{})
		must(t, reg.Register(&PinMember{}, auditlog.Exclude("Pin"), auditlog.M2M("Squads")))
		must(t, reg.Register(&PinSquad{}, auditlog.M2M("Members")))
		pins := []string{"pin-SECRET-0001", "pin-SECRET-0002"}
		extra := func(job string) context.Context {
			return auditlog.WithExtra(context.Background(), map[string]any{"job": job, "pins": pins})
		}
		rows := []PinMember{{Name: "a", Pin: pins[0]}, {Name: "a", Pin: pins[1]}}
		must(t, db.WithContext(extra("import")).Create(&rows).Error)
		must(t, db.WithContext(extra("rename")).Model(&PinMember{}).Where("name = ?", "a").Update("name", "b").Error)
		sq := PinSquad{Name: "blue"}
		must(t, db.Create(&sq).Error)
		must(t, db.WithContext(extra("enlist")).Model(&sq).Association("Members").Append(&rows[0], &rows[1]))
		must(t, db.WithContext(extra("disband")).Model(&sq).Association("Members").Clear())
		must(t, db.WithContext(extra("purge")).Where("name = ?", "b").Delete(&PinMember{}).Error)
		es := entries(t, db)
		if len(es) < 12 {
			t.Fatalf("%d entries", len(es))
		}
		for _, e := range es {
			if strings.Contains(string(e.AdditionalData), "SECRET") {
				t.Errorf("entry %d (%s %s %s) holds a clear excluded pin: %s", e.ID, e.Model, e.Action, e.ObjectPK, e.AdditionalData)
			}
		}
	})
}

type SealedChart struct {
	ID        uint
	Ward      string
	Diagnosis string `gorm:"serializer:testcrypt"`
}

type SealedChartShown struct {
	ID        uint
	Ward      string
	Diagnosis string `gorm:"serializer:testcrypt"`
}

func (c SealedChartShown) String() string { return "chart in " + c.Ward }

// TestExtraDataScrubbedOfACallersSerializedSecret: a field stored through
// a custom serializer is masked, and its clear value is only in the
// caller's object (the row holds what the serializer stored). The extra
// data of a create was scrubbed of it; that of an update or a delete of
// the same object, whose entry is made from the row, was not.
func TestExtraDataScrubbedOfACallersSerializedSecret(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		reg := setup(t, db, &SealedChart{}, &SealedChartShown{})
		must(t, reg.Register(&SealedChart{}))
		must(t, reg.Register(&SealedChartShown{}))
		const diag = "diag-SECRET-0001"
		ctx := auditlog.WithExtra(context.Background(), map[string]any{"note": "diagnosed " + diag})
		c := SealedChart{Ward: "a", Diagnosis: diag}
		must(t, db.WithContext(ctx).Create(&c).Error)
		must(t, db.WithContext(ctx).Model(&c).Update("ward", "b").Error)
		must(t, auditgorm.LogAccess(ctx, db, &c))
		must(t, db.WithContext(ctx).Delete(&c).Error)
		s := SealedChartShown{Ward: "a", Diagnosis: diag}
		must(t, db.WithContext(ctx).Create(&s).Error)
		must(t, db.WithContext(ctx).Model(&s).Update("ward", "b").Error)
		must(t, db.WithContext(ctx).Delete(&s).Error)
		es := entries(t, db)
		if len(es) != 7 {
			t.Fatalf("%d entries", len(es))
		}
		for _, e := range es {
			if strings.Contains(string(e.AdditionalData), "SECRET") {
				t.Errorf("entry %d (%s %s) holds the clear diagnosis: %s", e.ID, e.Model, e.Action, e.AdditionalData)
			}
		}
	})
}

type MaskedToken struct {
	Token string `gorm:"primaryKey;size:64"`
	Note  string
}

type TokenHolder struct {
	ID     uint
	Name   string
	Tokens []MaskedToken `gorm:"many2many:token_holder_tokens"`
}

// TestHooksErrorOfAJoinTableWrite: the hooks' error of a write to a join
// table (a statement with no model of its own) was passed on as the
// database wrote it, so MariaDB's duplicate-key error gave a masked key
// of the related model to the hooks (an OpenTelemetry span) in clear.
func TestHooksErrorOfAJoinTableWrite(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		rec := &hookRecorder{}
		reg := auditlog.NewRegistry()
		must(t, db.Use(auditgorm.New(auditgorm.Config{Registry: reg, Hooks: rec})))
		must(t, db.AutoMigrate(&MaskedToken{}, &TokenHolder{}))
		must(t, reg.Register(&MaskedToken{}, auditlog.Mask("Token")))
		must(t, reg.Register(&TokenHolder{}, auditlog.M2M("Tokens")))
		tok := MaskedToken{Token: "tok-SECRET-00000001", Note: "ci"}
		must(t, db.Create(&tok).Error)
		h := TokenHolder{Name: "h"}
		must(t, db.Create(&h).Error)
		row := func() map[string]any { return map[string]any{"token_holder_id": h.ID, "masked_token_token": tok.Token} }
		must(t, db.Table("token_holder_tokens").Create(row()).Error)
		rec.take()
		if err := db.Table("token_holder_tokens").Create(row()).Error; err == nil {
			t.Fatal("the pair inserted twice")
		}
		ends, _, _ := rec.take()
		failed := 0
		for _, e := range ends {
			if e.Err == nil {
				continue
			}
			failed++
			if strings.Contains(e.Err.Error(), "SECRET") {
				t.Errorf("the hooks' error quotes the masked key: %s", e.Err)
			}
		}
		if failed == 0 {
			t.Errorf("the hooks saw no failed statement: %+v", ends)
		}
	})
}
