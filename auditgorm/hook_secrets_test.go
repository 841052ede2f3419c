package auditgorm_test

import (
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/auditgorm"
	"github.com/go-auditlog/auditlog/internal/testdb"
)

// KeyVault has masked and excluded fields under unique indexes, so that a
// write can fail on each of them, and a public one.
type KeyVault struct {
	ID       uint
	Tenant   string `gorm:"size:32;uniqueIndex:idx_keyvault_tenant_pin"`
	Pin      string `gorm:"size:32;uniqueIndex:idx_keyvault_tenant_pin"`
	Token    string `gorm:"size:191;uniqueIndex"`
	Recovery string `gorm:"size:64;uniqueIndex"`
	Code     string `gorm:"size:16;uniqueIndex"`
}

// hookErrorOf runs write, which must fail, and returns the error the
// application got and the one Config.Hooks saw.
func hookErrorOf(t *testing.T, rec *hookRecorder, name string, write func() *gorm.DB) (app, hook error) {
	t.Helper()
	rec.take()
	app = write().Error
	ends, _, _ := rec.take()
	if app == nil {
		t.Fatalf("%s: no error", name)
	}
	if len(ends) != 1 || ends[0].Err == nil {
		t.Fatalf("%s: the hooks saw %+v", name, ends)
	}
	if !errors.Is(ends[0].Err, app) {
		t.Errorf("%s: the hooks' error %q is not the statement's %q", name, ends[0].Err, app)
	}
	return app, ends[0].Err
}

// The error a failed statement hands Config.Hooks (and so auditotel's span
// and whatever a hook logs) does not quote the masked and excluded values
// of its model: MariaDB's duplicate-key error quotes the key's value
// ("Duplicate entry 'sk_live_…' for key 'token'"), cut after 64 characters
// and joined with '-' for a key of several columns, a secret the statement
// did not assign among them; the hooks saw it as it was. The error stays
// the statement's (errors.Is) and keeps its other words, and a key of
// public columns keeps its value.
func TestHookErrorsHideSecrets(t *testing.T) {
	longToken := "tok_" + strings.Repeat("0123456789abcdef", 8) // 132 characters: cut in MariaDB's message
	const (
		token    = "sk_live_vault_4242"
		recovery = "recovery-words-lima-echo"
		pin      = "x7"
	)
	secrets := []string{longToken[:40], token, "vault_4242", recovery, "-" + pin + "'"}
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		rec := &hookRecorder{}
		reg := auditlog.NewRegistry()
		must(t, db.Use(auditgorm.New(auditgorm.Config{Registry: reg, Hooks: rec})))
		must(t, db.AutoMigrate(&KeyVault{}))
		must(t, reg.Register(&KeyVault{}, auditlog.Mask("Token", "Pin"), auditlog.Exclude("Recovery")))
		must(t, db.Create(&[]KeyVault{
			{Tenant: "acme", Pin: pin, Token: token, Recovery: recovery, Code: "code-1"},
			{Tenant: "o'brien", Pin: pin, Token: longToken, Recovery: "r2", Code: "code-2"},
			{Tenant: "acme", Pin: "p3", Token: "t3", Recovery: "r3", Code: "code-3"},
		}).Error)
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
			{"create, duplicate tenant with a quote and pin", func() *gorm.DB {
				return db.Create(&KeyVault{Tenant: "o'brien", Pin: pin, Token: "t4", Recovery: "r4"})
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
			{"upsert assigning an expression", func() *gorm.DB {
				return db.Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "id"}}, DoUpdates: clause.Assignments(map[string]any{"token": gorm.Expr("?", token)})}).
					Create(&KeyVault{ID: 3, Tenant: "acme", Pin: "p3", Token: "t3", Recovery: "r3"})
			}},
			{"update, duplicate token", func() *gorm.DB { return db.Model(&other).Update("token", token) }},
			{"update by an expression", func() *gorm.DB {
				return db.Model(&other).Update("token", gorm.Expr("CONCAT(?, ?)", "sk_live_", "vault_4242"))
			}},
			{"update column by an expression", func() *gorm.DB { return db.Model(&other).UpdateColumn("token", gorm.Expr("?", token)) }},
			{"update, duplicate long token", func() *gorm.DB { return db.Model(&other).Updates(map[string]any{"token": longToken}) }},
			{"update, duplicate excluded value", func() *gorm.DB { return db.Model(&other).Updates(KeyVault{Recovery: recovery}) }},
			{"update, duplicate pin", func() *gorm.DB { return db.Model(&other).Update("pin", pin) }},
			{"update of the public half of a key with a secret", func() *gorm.DB {
				// Row 2 holds pin x7 already: the message quotes it, unsent.
				return db.Model(&KeyVault{ID: 2}).Update("tenant", "acme")
			}},
			{"update through an empty slice", func() *gorm.DB {
				return db.Model(&[]KeyVault{}).Where("id = ?", 3).Update("token", token)
			}},
		} {
			if c.name == "update by an expression" && db.Dialector.Name() == "sqlite" {
				continue // no CONCAT
			}
			app, err := hookErrorOf(t, rec, c.name, c.write)
			for _, s := range secrets {
				if strings.Contains(err.Error(), s) {
					t.Errorf("%s: the hooks' error quotes the secret %q: %s", c.name, s, err)
				}
			}
			if strings.Contains(app.Error(), "Duplicate entry") && !strings.Contains(err.Error(), "Duplicate entry '[hidden]' for key '") {
				t.Errorf("%s: the hooks' error %q lost the statement's words %q", c.name, err, app)
			}
		}
		// A duplicate public value is quoted as it was.
		app, err := hookErrorOf(t, rec, "public", func() *gorm.DB {
			return db.Create(&KeyVault{Tenant: "acme", Pin: "p9", Token: "t9-token", Recovery: "r9", Code: "code-1"})
		})
		if err.Error() != app.Error() {
			t.Errorf("a duplicate of a public value: the app saw %q, the hooks %q", app, err)
		}
	})
}

// SecretForms holds secrets whose database form is not their recorded
// text: bytes, a time, JSON as sent, a character MariaDB's message cannot
// show (utf8mb4 text in a latin1 message).
type SecretForms struct {
	ID    uint
	Key   []byte          `gorm:"size:64;uniqueIndex"`
	Name  string          `gorm:"size:32;uniqueIndex:idx_secret_forms_born"`
	Born  time.Time       `gorm:"uniqueIndex:idx_secret_forms_born"`
	Doc   json.RawMessage `gorm:"type:varchar(191);uniqueIndex"`
	Emoji string          `gorm:"size:191;uniqueIndex"`
}

// The hooks' error hides a secret in whatever form the database quotes
// it, which the recorded text is not: the bytes (recorded as base64), the
// database's own time format, the JSON as sent, a '?' for a character.
func TestHookErrorsHideSecretsInTheDatabasesForm(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		rec := &hookRecorder{}
		reg := auditlog.NewRegistry()
		must(t, db.Use(auditgorm.New(auditgorm.Config{Registry: reg, Hooks: rec})))
		must(t, db.AutoMigrate(&SecretForms{}))
		must(t, reg.Register(&SecretForms{}, auditlog.Mask("Key", "Born"), auditlog.Exclude("Doc", "Emoji")))
		row := SecretForms{Key: []byte("binary-key-secret-0001"), Name: "ann", Born: time.Date(1984, 3, 5, 6, 7, 8, 0, time.UTC),
			Doc: json.RawMessage(`{"api_key": "secret-json-value-1"}`), Emoji: "sk_live_\U0001F600_emoji_secret_value"}
		must(t, db.Create(&row).Error)
		for _, c := range []struct {
			name   string
			row    SecretForms
			secret string
		}{
			{"bytes", SecretForms{Key: row.Key, Name: "a", Doc: json.RawMessage(`1`), Emoji: "e1"}, "binary-key-secret"},
			{"time", SecretForms{Key: []byte("k2"), Name: "ann", Born: row.Born, Doc: json.RawMessage(`2`), Emoji: "e2"}, "1984-03-05"},
			{"JSON as sent", SecretForms{Key: []byte("k3"), Name: "c", Doc: row.Doc, Emoji: "e3"}, "secret-json-value"},
			{"a character the message cannot show", SecretForms{Key: []byte("k4"), Name: "d", Doc: json.RawMessage(`4`), Emoji: row.Emoji}, "emoji_secret"},
		} {
			_, err := hookErrorOf(t, rec, c.name, func() *gorm.DB { return db.Create(&c.row) })
			if strings.Contains(err.Error(), c.secret) {
				t.Errorf("%s: the hooks' error quotes the secret: %s", c.name, err)
			}
		}
	})
}

// UUIDKey's secret is text in a column of a type PostgreSQL checks: a
// value that is no uuid is quoted in the error, whether the statement
// writes it or looks for it.
type UUIDKey struct {
	ID     uint
	APIKey string `gorm:"type:uuid"`
}

func TestHookErrorsHideSecretsPostgreSQLQuotes(t *testing.T) {
	if os.Getenv(testdb.PostgresEnv) == "" {
		t.Skip("PostgreSQL's uuid type")
	}
	const bad = "sk_live_not_a_uuid_4242"
	db := testdb.Open(t, "postgres")
	rec := &hookRecorder{}
	reg := auditlog.NewRegistry()
	must(t, db.Use(auditgorm.New(auditgorm.Config{Registry: reg, Hooks: rec})))
	must(t, db.AutoMigrate(&UUIDKey{}))
	must(t, reg.Register(&UUIDKey{}, auditlog.Exclude("APIKey")))
	must(t, db.Create(&UUIDKey{APIKey: "6f1c2a52-8a4d-4b55-9f0b-7d7c3c1c2e11"}).Error)
	for _, c := range []struct {
		name  string
		write func() *gorm.DB
	}{
		{"create", func() *gorm.DB { return db.Create(&UUIDKey{APIKey: bad}) }},
		{"update by an expression", func() *gorm.DB { return db.Model(&UUIDKey{ID: 1}).Update("api_key", gorm.Expr("?", bad)) }},
		{"delete where", func() *gorm.DB { return db.Where(&UUIDKey{APIKey: bad}).Delete(&UUIDKey{}) }},
		{"update where", func() *gorm.DB {
			return db.Model(&UUIDKey{}).Where(&UUIDKey{APIKey: bad}).Update("api_key", "6f1c2a52-8a4d-4b55-9f0b-7d7c3c1c2e12")
		}},
	} {
		_, err := hookErrorOf(t, rec, c.name, c.write)
		if strings.Contains(err.Error(), "not_a_uuid") || !strings.Contains(err.Error(), "(SQLSTATE 22P02)") {
			t.Errorf("%s: the hooks saw %s", c.name, err)
		}
	}
}

// Payroll's masked salary is too large for its column: pgx refuses to
// encode it before the server sees the statement, with a message that
// prints the value unquoted, twice.
type Payroll struct {
	ID     uint
	Name   string
	Salary int64 `gorm:"type:smallint"`
}

// A driver's own error (not the server's) shows none of its text past its
// first words in the hooks' error.
func TestHookErrorsHideSecretsInDriversOwnErrors(t *testing.T) {
	if os.Getenv(testdb.PostgresEnv) == "" {
		t.Skip("pgx's encoding of a value too large for its column")
	}
	db := testdb.Open(t, "postgres")
	rec := &hookRecorder{}
	reg := auditlog.NewRegistry()
	must(t, db.Use(auditgorm.New(auditgorm.Config{Registry: reg, Hooks: rec})))
	must(t, db.AutoMigrate(&Payroll{}))
	must(t, reg.Register(&Payroll{}, auditlog.Mask("Salary")))
	app, err := hookErrorOf(t, rec, "create", func() *gorm.DB { return db.Create(&Payroll{Name: "ann", Salary: 987654}) })
	if strings.Contains(err.Error(), "987654") || !strings.Contains(app.Error(), "987654") {
		t.Errorf("the application saw %q, the hooks %q", app, err)
	}
}
