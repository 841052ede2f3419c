package auditgorm_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"gorm.io/gorm"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/auditgorm"
	"github.com/go-auditlog/auditlog/internal/testdb"
)

// CtxUser has an excluded password and a masked API key, and no methods.
type CtxUser struct {
	ID       uint
	Name     string
	Password string
	APIKey   string
	Groups   []CtxGroup `gorm:"many2many:ctx_user_groups"`
}

type CtxGroup struct {
	ID   uint
	Name string
}

const (
	ctxPassword = "Tr0ub4dor-and-3"
	ctxAPIKey   = "sk_live_ctx_0123456789"
)

// The context's extra data naming the object's own secrets is scrubbed of
// them on every path: create, update, access, many-to-many add and clear,
// delete. The update, the delete and the many-to-many entries stored them in
// clear: a model without methods builds no object for them, and the
// scrubber knew only the object's values.
func TestExtraDataIsScrubbedOnEveryPath(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		reg := setup(t, db, &CtxUser{}, &CtxGroup{})
		must(t, reg.Register(&CtxUser{}, auditlog.Exclude("Password"), auditlog.Mask("APIKey"), auditlog.M2M("Groups")))
		must(t, reg.Register(&CtxGroup{}))
		ctx := auditlog.WithExtra(context.Background(), map[string]any{"note": "password reset to " + ctxPassword + ", key " + ctxAPIKey})
		u := CtxUser{Name: "u", Password: ctxPassword, APIKey: ctxAPIKey}
		must(t, db.WithContext(ctx).Create(&u).Error)
		must(t, db.WithContext(ctx).Model(&u).Update("name", "u2").Error)
		must(t, auditgorm.LogAccess(ctx, db, &u))
		g := CtxGroup{Name: "admins"}
		must(t, db.Create(&g).Error)
		must(t, db.WithContext(ctx).Model(&u).Association("Groups").Append(&g))
		must(t, db.WithContext(ctx).Model(&u).Association("Groups").Clear())
		must(t, db.WithContext(ctx).Delete(&u).Error)
		es := entries(t, db)
		if len(es) != 7 {
			t.Fatalf("%d entries, want 7", len(es))
		}
		for _, e := range es {
			b, _ := json.Marshal(e)
			for _, secret := range []string{ctxPassword, ctxAPIKey} {
				if strings.Contains(string(b)+string(e.AdditionalData), secret) {
					t.Errorf("%s %s entry %d holds a clear secret: %s", e.Model, e.Action, e.ID, e.AdditionalData)
				}
			}
		}
	})
}

// A remote port outside 1 to 65535 (-1 for "unknown" from a job's own
// parsing) is recorded as unknown; it made the application's write fail.
func TestRemotePortOutOfRangeIsUnknown(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		reg := setup(t, db, &CtxGroup{})
		must(t, reg.Register(&CtxGroup{}))
		for _, port := range []int{-1, 70000} {
			ctx := auditlog.WithRemoteAddr(context.Background(), "192.0.2.1", port)
			must(t, db.WithContext(ctx).Create(&CtxGroup{Name: "g"}).Error)
		}
		for _, e := range expectCount(t, db, 2) {
			if e.RemoteAddr != "192.0.2.1" || e.RemotePort != 0 {
				t.Errorf("entry %d: address %q port %d", e.ID, e.RemoteAddr, e.RemotePort)
			}
		}
	})
}

// Correlation ids that differ only past the 255 bytes a column holds stay
// two ids: a revert by one undoes its own changes alone. They were cut to
// one id, and a revert by it undid the other job's changes too.
func TestLongCorrelationIDsStayApart(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		reg := setup(t, db, &CtxGroup{})
		must(t, reg.Register(&CtxGroup{}))
		prefix := "import/" + strings.Repeat("tenant-acme-corp/", 16) // 279 bytes
		cidA, cidB := prefix+"run-1", prefix+"run-2"
		must(t, db.WithContext(auditlog.WithCorrelationID(context.Background(), cidA)).Create(&CtxGroup{Name: "from run 1"}).Error)
		must(t, db.WithContext(auditlog.WithCorrelationID(context.Background(), cidB)).Create(&CtxGroup{Name: "from run 2"}).Error)
		es := expectCount(t, db, 2)
		if es[0].CorrelationID == es[1].CorrelationID || len(es[0].CorrelationID) > 255 || !strings.HasPrefix(es[0].CorrelationID, "import/tenant-acme-corp/") {
			t.Fatalf("stored ids %q and %q", es[0].CorrelationID, es[1].CorrelationID)
		}
		must(t, auditgorm.RevertCorrelation(context.Background(), db, cidA, auditgorm.RevertOptions{}))
		var left []CtxGroup
		must(t, db.Find(&left).Error)
		if len(left) != 1 || left[0].Name != "from run 2" {
			t.Errorf("after reverting run 1: %+v", left)
		}
	})
}

type panicAtEnd struct{}

func (panicAtEnd) StatementStart(ctx context.Context, _ auditgorm.StatementStartInfo) context.Context {
	return ctx
}
func (panicAtEnd) StatementEnd(context.Context, auditgorm.StatementEndInfo) { panic("exporter down") }

// A StatementEnd hook that panics after LogAccess wrote its entry outside a
// transaction fails the call with an error that says the entry was
// committed, as a captured write's does: a caller that retries on the error
// would log the access twice.
func TestLogHookPanicSaysTheEntryWasCommitted(t *testing.T) {
	db := testdb.Open(t, "sqlite")
	reg := auditlog.NewRegistry()
	must(t, db.Use(auditgorm.New(auditgorm.Config{Registry: reg, Hooks: panicAtEnd{}})))
	must(t, db.AutoMigrate(&CtxGroup{}))
	must(t, reg.Register(&CtxGroup{}))
	g := CtxGroup{Name: "g"}
	must(t, db.WithContext(auditlog.Disable(context.Background())).Create(&g).Error)
	err := auditgorm.LogAccess(context.Background(), db, &g)
	if err == nil || !strings.Contains(err.Error(), "Hooks.StatementEnd panicked: exporter down; the entry was committed") {
		t.Errorf("LogAccess: %v", err)
	}
	expectCount(t, db, 1)
}

// Extra data holding a secret as bytes, which Go's encoder writes as base64,
// is scrubbed too: the base64 decoded to the masked key.
func TestExtraDataSecretAsBytesIsScrubbed(t *testing.T) {
	db := testdb.Open(t, "sqlite")
	reg := setup(t, db, &CtxUser{}, &CtxGroup{})
	must(t, reg.Register(&CtxUser{}, auditlog.Exclude("Password"), auditlog.Mask("APIKey"), auditlog.M2M("Groups")))
	ctx := auditlog.WithExtra(context.Background(), map[string]any{"key_bytes": []byte("key " + ctxAPIKey)})
	must(t, db.WithContext(ctx).Create(&CtxUser{Name: "u", Password: ctxPassword, APIKey: ctxAPIKey}).Error)
	var extra struct {
		KeyBytes []byte `json:"key_bytes"`
	}
	e := expectCount(t, db, 1)[0]
	must(t, json.Unmarshal(e.AdditionalData, &extra))
	if strings.Contains(string(extra.KeyBytes), ctxAPIKey) || !strings.HasPrefix(string(extra.KeyBytes), "key *") {
		t.Errorf("additional data %s decodes to %q", e.AdditionalData, extra.KeyBytes)
	}
}
