package auditgorm_test

import (
	"strings"
	"testing"

	"gorm.io/gorm"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/auditgorm"
	"github.com/go-auditlog/auditlog/internal/testdb"
)

type raisedAcct struct {
	ID    uint
	Email string `gorm:"size:64"`
}

// A trigger's own error (PostgreSQL's RAISE, MariaDB's SIGNAL) may name a
// row's values without quotes ("email … is blocked"): the hooks, and so
// auditotel's span, saw a masked email in it. Such a message is hidden
// whole for a model with secrets; the application's error keeps it.
func TestHookErrorsHideATriggersMessage(t *testing.T) {
	const secret = "SECRET-blocked-4242@x.io"
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		var trigger []string
		switch db.Dialector.Name() {
		case "postgres":
			trigger = []string{
				`CREATE FUNCTION raised_block() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'email % is blocked', NEW.email; END $$ LANGUAGE plpgsql`,
				`CREATE TRIGGER raised_block BEFORE INSERT ON raised_accts FOR EACH ROW EXECUTE FUNCTION raised_block()`,
			}
		case "mysql":
			trigger = []string{"CREATE TRIGGER raised_block BEFORE INSERT ON raised_accts FOR EACH ROW BEGIN DECLARE msg VARCHAR(128); SET msg = CONCAT('email ', NEW.email, ' is blocked'); SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = msg; END"}
		default:
			t.Skip("SQLite's RAISE takes a literal message only")
		}
		rec := &hookRecorder{}
		reg := auditlog.NewRegistry()
		must(t, db.Use(auditgorm.New(auditgorm.Config{Registry: reg, Hooks: rec})))
		must(t, db.AutoMigrate(&raisedAcct{}))
		must(t, reg.Register(&raisedAcct{}, auditlog.Mask("Email")))
		for _, s := range trigger {
			must(t, db.Exec(s).Error)
		}
		app, hook := hookErrorOf(t, rec, "create", func() *gorm.DB { return db.Create(&raisedAcct{Email: secret}) })
		if !strings.Contains(app.Error(), secret) {
			t.Errorf("the application's error: %v", app)
		}
		if strings.Contains(hook.Error(), "4242") || !strings.Contains(hook.Error(), "[hidden]") {
			t.Errorf("the hooks' error: %v", hook)
		}
	})
}
