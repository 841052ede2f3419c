package auditgorm_test

import (
	"context"
	"strings"
	"testing"

	"gorm.io/gorm"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/internal/testdb"
)

// On PostgreSQL a model with an excluded field, no masked field and no
// methods has its updates and deletes' entries written in SQL (pgentries);
// their additional data was the context's extra data unscrubbed: the
// excluded password, which the create's entry shows as [excluded], was
// stored in clear. Such a statement with extra data goes to the Go side.
type XUser struct {
	ID       uint
	Name     string
	Password string
}

func TestExtraDataScrubbedOnEveryPath(t *testing.T) {
	t.Parallel()
	const pw = "SECRET-pw-4111222233334444"
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		reg := setup(t, db, &XUser{})
		must(t, reg.Register(&XUser{}, auditlog.Exclude("Password")))
		ctx := auditlog.WithExtra(context.Background(), map[string]any{"note": "password reset to " + pw})
		u := XUser{Name: "u", Password: pw}
		must(t, db.WithContext(ctx).Create(&u).Error)
		must(t, db.WithContext(ctx).Model(&u).Update("name", "u2").Error)
		must(t, db.WithContext(ctx).Delete(&u).Error)
		for _, e := range entries(t, db) {
			if strings.Contains(string(e.AdditionalData), pw) {
				t.Errorf("%s entry %d: additional_data %s", e.Action, e.ID, e.AdditionalData)
			}
		}
	})
}

// One many-to-many write makes an entry for each side, from the same
// statement and context; each side's extra data was scrubbed only of its
// own object's secrets, though the plugin read the other side's row for
// its repr: the team's masked token was hidden in the team's entry and
// stored in clear in the member's, and the member's excluded password the
// other way round. Each side's is scrubbed of the related rows' too.
type XMember struct {
	ID       uint
	Name     string
	Password string
	Teams    []XTeam `gorm:"many2many:x_member_teams"`
}

type XTeam struct {
	ID      uint
	Name    string
	Token   string
	Members []XMember `gorm:"many2many:x_member_teams"`
}

func TestExtraDataScrubbedOfBothSides(t *testing.T) {
	t.Parallel()
	const pw, tok = "SECRET-pw-99998888", "SECRET-tok-4111222233334444"
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		reg := setup(t, db, &XMember{}, &XTeam{})
		must(t, reg.Register(&XMember{}, auditlog.Exclude("Password"), auditlog.M2M("Teams")))
		must(t, reg.Register(&XTeam{}, auditlog.Mask("Token"), auditlog.M2M("Members")))
		u := XMember{Name: "u", Password: pw}
		g := XTeam{Name: "g", Token: tok}
		must(t, db.Create(&u).Error)
		must(t, db.Create(&g).Error)
		ctx := auditlog.WithExtra(context.Background(), map[string]any{"note": "pw " + pw + " tok " + tok})
		must(t, db.WithContext(ctx).Model(&u).Association("Teams").Append(&g))
		es := entries(t, db)
		for _, e := range es[2:] {
			for _, s := range []string{pw, tok} {
				if strings.Contains(string(e.AdditionalData), s) {
					t.Errorf("%s %s entry %d (changes %s): additional_data %s", e.Model, e.Action, e.ID, e.Changes, e.AdditionalData)
				}
			}
		}
	})
}
