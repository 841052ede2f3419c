package auditgorm_test

import (
	"errors"
	"strings"
	"testing"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/auditgorm"
	"github.com/go-auditlog/auditlog/internal/testdb"
)

// KeyVault has masked and excluded fields under unique indexes, so that a
// write can fail on each of them.
type KeyVault struct {
	ID       uint
	Tenant   string `gorm:"size:32;uniqueIndex:idx_keyvault_tenant_pin"`
	Pin      string `gorm:"size:32;uniqueIndex:idx_keyvault_tenant_pin"`
	Token    string `gorm:"size:191;uniqueIndex"`
	Recovery string `gorm:"size:64;uniqueIndex"`
	Code     string `gorm:"size:16;uniqueIndex"`
}

// The error a failed statement hands Config.Hooks (and so auditotel's span
// and whatever a hook logs) does not quote the masked and excluded values
// it wrote. MariaDB's duplicate-key error quotes the key's value
// ("Duplicate entry 'sk_live_…' for key 'token'"), cut after 64 characters
// and joined with '-' for a key of several columns; the hooks saw it as it
// was. The error stays the statement's (errors.Is) and keeps its other
// words.
func TestHookErrorsHideSecrets(t *testing.T) {
	longToken := "tok_" + strings.Repeat("0123456789abcdef", 8) // 132 characters: cut in MariaDB's message
	const (
		token    = "sk_live_vault_4242"
		recovery = "recovery-words-lima-echo"
		pin      = "x7" // too short to be replaced as text: hidden where the error quotes it
	)
	secrets := []string{longToken, longToken[:40], token, recovery, pin}
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		rec := &hookRecorder{}
		reg := auditlog.NewRegistry()
		must(t, db.Use(auditgorm.New(auditgorm.Config{Registry: reg, Hooks: rec})))
		must(t, db.AutoMigrate(&KeyVault{}))
		must(t, reg.Register(&KeyVault{}, auditlog.Mask("Token", "Pin"), auditlog.Exclude("Recovery")))
		must(t, db.Create(&[]KeyVault{
			{Tenant: "acme", Pin: pin, Token: token, Recovery: recovery, Code: "code-1"},
			{Tenant: "acme", Pin: "p2", Token: longToken, Recovery: "r2", Code: "code-2"},
			{Tenant: "acme", Pin: "p3", Token: "t3", Recovery: "r3", Code: "code-3"},
		}).Error)
		rec.take()
		other := KeyVault{ID: 3}
		for _, c := range []struct {
			name  string
			write func() *gorm.DB
		}{
			{"create, duplicate token", func() *gorm.DB { return db.Create(&KeyVault{Tenant: "b", Pin: "q", Token: token, Recovery: "r4"}) }},
			{"create, duplicate long token", func() *gorm.DB {
				return db.Create(&KeyVault{Tenant: "b", Pin: "q", Token: longToken, Recovery: "r4"})
			}},
			{"create, duplicate tenant and pin", func() *gorm.DB {
				return db.Create(&KeyVault{Tenant: "acme", Pin: pin, Token: "t4", Recovery: "r4"})
			}},
			{"create, duplicate excluded value", func() *gorm.DB {
				return db.Create(&KeyVault{Tenant: "b", Pin: "q", Token: "t4", Recovery: recovery})
			}},
			{"batch create, second row duplicate", func() *gorm.DB {
				return db.Create(&[]KeyVault{{Tenant: "b", Pin: "q", Token: "t5", Recovery: "r5"}, {Tenant: "c", Pin: "q", Token: token, Recovery: "r6"}})
			}},
			{"create from a map", func() *gorm.DB {
				return db.Model(&KeyVault{}).Create(map[string]any{"Tenant": "b", "Pin": "q", "Token": token, "Recovery": "r7"})
			}},
			{"upsert", func() *gorm.DB {
				return db.Clauses(clause.OnConflict{UpdateAll: true}).Create(&KeyVault{ID: 3, Tenant: "acme", Pin: "p3", Token: token, Recovery: "r3"})
			}},
			{"update, duplicate token", func() *gorm.DB { return db.Model(&other).Update("token", token) }},
			{"update, duplicate long token", func() *gorm.DB { return db.Model(&other).Updates(map[string]any{"token": longToken}) }},
			{"update, duplicate excluded value", func() *gorm.DB { return db.Model(&other).Updates(KeyVault{Recovery: recovery}) }},
			{"update, duplicate pin", func() *gorm.DB { return db.Model(&other).Update("pin", pin) }},
			{"update through an empty slice", func() *gorm.DB {
				return db.Model(&[]KeyVault{}).Where("id = ?", 3).Update("token", token)
			}},
		} {
			appErr := c.write().Error
			if appErr == nil {
				t.Fatalf("%s: no error", c.name)
			}
			ends, _, _ := rec.take()
			if len(ends) != 1 || ends[0].Err == nil {
				t.Fatalf("%s: the hooks saw %+v", c.name, ends)
			}
			err := ends[0].Err
			if !errors.Is(err, appErr) {
				t.Errorf("%s: the hooks' error %q is not the statement's %q", c.name, err, appErr)
			}
			for _, s := range secrets {
				if strings.Contains(err.Error(), s) || s == pin && strings.Contains(err.Error(), "-"+pin+"'") {
					t.Errorf("%s: the hooks' error quotes the secret %q: %s", c.name, s, err)
				}
			}
			if strings.Contains(appErr.Error(), "Duplicate entry") && !strings.Contains(err.Error(), "Duplicate entry") {
				t.Errorf("%s: the hooks' error %q lost the statement's words %q", c.name, err, appErr)
			}
		}
		// A duplicate public value is quoted as it was.
		appErr := db.Create(&KeyVault{Tenant: "acme", Pin: "p9", Token: "t9-token", Recovery: "r9", Code: "code-1"}).Error
		ends, _, _ := rec.take()
		if appErr == nil || len(ends) != 1 || ends[0].Err == nil || ends[0].Err.Error() != appErr.Error() {
			t.Errorf("a duplicate of public values: the app saw %v, the hooks %+v", appErr, ends)
		}
	})
}
