package auditlog_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
	"gorm.io/gorm/schema"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/internal/registry"
)

type address struct {
	City string
}

type book struct {
	ID      uint
	Title   string
	UserID  uint
	Body    string  `gorm:"column:content"`
	Addr    address `gorm:"embedded;embeddedPrefix:addr_"`
	Created time.Time
	Skip    string `gorm:"-"`
}

// tagged names its primary key by tag: its ID is an ordinary field.
type tagged struct {
	ID   uint
	Code string `gorm:"primaryKey;size:8"`
}

// softBook is soft-deleted through GORM's DeletedAt.
type softBook struct {
	ID        uint
	Title     string
	DeletedAt gorm.DeletedAt `gorm:"index"`
}

// tenant adds a condition to every delete of its model: not a soft delete.
type tenant string

func (tenant) DeleteClauses(*schema.Field) []clause.Interface { return nil }

type tenantBook struct {
	ID     uint
	Title  string
	Tenant tenant
}

// modelBook embeds gorm.Model, DeletedAt included.
type modelBook struct {
	gorm.Model
	Title string
}

// Registration refuses what the first write would refuse: an excluded
// primary key, an excluded field named in SnapshotFields.
func TestRegisterValidation(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		model any
		opts  []auditlog.Option
		want  string // substring of the error; "" means success
	}{
		{"pointer to struct", &book{}, nil, ""},
		{"struct value", book{}, nil, ""},
		{"Go names, columns, paths", &book{}, []auditlog.Option{auditlog.Include("Title", "user_id", "content", "Addr.City", "addr_city", "created")}, ""},
		{"not a struct", 42, nil, "is not a struct"},
		{"nil", nil, nil, "model is nil"},
		{"unknown include", &book{}, []auditlog.Option{auditlog.Include("Nope")}, `Include names unknown field "Nope"`},
		{"unknown exclude", &book{}, []auditlog.Option{auditlog.Exclude("nope")}, `Exclude names unknown field "nope"`},
		{"unknown mask", &book{}, []auditlog.Option{auditlog.Mask("x")}, `Mask names unknown field "x"`},
		{"ignored field", &book{}, []auditlog.Option{auditlog.Include("Skip")}, `unknown field "Skip"`},
		{"unknown display name", &book{}, []auditlog.Option{auditlog.DisplayNames(map[string]string{"x": "X"})}, `DisplayNames names unknown field "x"`},
		{"snapshot fields imply a snapshot", &book{}, []auditlog.Option{auditlog.SnapshotFields("Title")}, ""},
		{"audited-only implies a snapshot", &book{}, []auditlog.Option{auditlog.SnapshotAuditedOnly()}, ""},
		{"snapshot with fields", &book{}, []auditlog.Option{auditlog.Snapshot(), auditlog.SnapshotFields("Title")}, ""},
		{"blank model name", &book{}, []auditlog.Option{auditlog.ModelName("  ")}, "blank"},
		{"zero option", &book{}, []auditlog.Option{{}}, "empty option"},
		{"excluded key", &book{}, []auditlog.Option{auditlog.Exclude("ID")}, "Exclude names the primary key ID"},
		{"excluded key by column", &book{}, []auditlog.Option{auditlog.Exclude("id")}, "Exclude names the primary key"},
		{"excluded tagged key", &tagged{}, []auditlog.Option{auditlog.Exclude("Code")}, "Exclude names the primary key Code"},
		{"ID is not the key of a tagged model", &tagged{}, []auditlog.Option{auditlog.Exclude("ID")}, ""},
		{"masked key", &book{}, []auditlog.Option{auditlog.Mask("ID")}, ""},
		{"excluded snapshot field", &book{}, []auditlog.Option{auditlog.Exclude("Body"), auditlog.SnapshotFields("Title", "content")}, "SnapshotFields names Body, which is excluded"},
		{"excluded snapshot field by path", &book{}, []auditlog.Option{auditlog.Exclude("addr_city"), auditlog.SnapshotFields("Addr.City")}, "which is excluded"},
		// A restore changes the soft-delete field alone: left out, it would
		// go unrecorded.
		{"excluded soft-delete field", &softBook{}, []auditlog.Option{auditlog.Exclude("DeletedAt")}, "Exclude names DeletedAt, the soft-delete field"},
		{"excluded soft-delete column", &softBook{}, []auditlog.Option{auditlog.Exclude("deleted_at")}, "the soft-delete field"},
		{"soft-delete field not included", &softBook{}, []auditlog.Option{auditlog.Include("Title")}, "Include leaves out DeletedAt, the soft-delete field"},
		{"soft-delete field included", &softBook{}, []auditlog.Option{auditlog.Include("Title", "deleted_at")}, ""},
		{"soft-delete field masked", &softBook{}, []auditlog.Option{auditlog.Mask("DeletedAt")}, ""},
		{"soft-delete field of an embedded gorm.Model", &modelBook{}, []auditlog.Option{auditlog.Exclude("DeletedAt")}, "the soft-delete field"},
		// A type with DeleteClauses that is no soft delete (a tenant's
		// condition on every delete) may be left out.
		{"tenant field not included", &tenantBook{}, []auditlog.Option{auditlog.Include("Title")}, ""},
		{"tenant field excluded", &tenantBook{}, []auditlog.Option{auditlog.Exclude("Tenant")}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := auditlog.NewRegistry().Register(tc.model, tc.opts...)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, auditlog.ErrRegistration) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestRegistryLifecycle(t *testing.T) {
	t.Parallel()
	r := auditlog.NewRegistry()
	if r.Contains(&book{}) {
		t.Fatal("empty registry contains book")
	}
	if err := r.Register(&book{}, auditlog.Include("Title")); err != nil {
		t.Fatal(err)
	}
	// The same options again (an init run twice): nothing changes.
	if err := r.Register(book{}, auditlog.Include("Title")); err != nil {
		t.Fatal(err)
	}
	// Other options: refused, the registration as it was. A second
	// Register that dropped a Mask or an Exclude would record the secret.
	if err := r.Register(book{}, auditlog.Exclude("Title")); !errors.Is(err, auditlog.ErrRegistration) || !strings.Contains(err.Error(), "Reregister") {
		t.Fatalf("a second Register with other options: %v", err)
	}
	v := registry.Of(r)
	if got := v.Models(); len(got) != 1 {
		t.Fatalf("models %v", got)
	}
	if cfg, ok := v.Lookup(v.Models()[0]); !ok || len(cfg.Include) != 1 || len(cfg.Exclude) != 0 {
		t.Fatalf("a refused Register changed the options: %+v", cfg)
	}
	// Reregister replaces them, at once.
	gen := v.Generation()
	if err := r.Reregister(&book{}, auditlog.Exclude("Title")); err != nil {
		t.Fatal(err)
	}
	if cfg, ok := v.Lookup(v.Models()[0]); !ok || len(cfg.Include) != 0 || len(cfg.Exclude) != 1 || v.Generation() == gen {
		t.Fatalf("Reregister must replace the options: %+v", cfg)
	}
	// Options equal but for their order.
	if err := r.Register(&address{}, auditlog.Mask("City"), auditlog.DisplayNames(map[string]string{"city": "Town"})); err != nil {
		t.Fatal(err)
	}
	if err := r.Register(&address{}, auditlog.DisplayNames(map[string]string{"city": "Town"}), auditlog.Mask("City")); err != nil {
		t.Fatalf("the same options in another order: %v", err)
	}
	// Mask functions cannot be compared (method values of one method
	// share their code, whatever their receiver): a registration with one
	// is refused, even with the same function.
	for _, fn := range []auditlog.MaskFunc{auditlog.MaskString, keyA.mask, keyB.mask} {
		if err := r.Register(&address{}, auditlog.Mask("City"), auditlog.DisplayNames(map[string]string{"city": "Town"}), auditlog.MaskWith(fn)); !errors.Is(err, auditlog.ErrRegistration) {
			t.Fatalf("a second Register with a mask function: %v", err)
		}
	}
	if err := r.Reregister(&address{}, auditlog.Mask("City"), auditlog.MaskWith(keyA.mask)); err != nil {
		t.Fatal(err)
	}
	if err := r.Register(&address{}, auditlog.Mask("City"), auditlog.MaskWith(keyB.mask)); err == nil {
		t.Fatal("a second Register with another key's mask was taken")
	}
	if err := r.Reregister(&address{}, auditlog.Mask("Nowhere")); !errors.Is(err, auditlog.ErrRegistration) {
		t.Fatalf("Reregister validates as Register does: %v", err)
	}
	r.Unregister(address{})
	r.Unregister(&book{})
	r.Unregister(&address{}) // unknown: ignored
	if r.Contains(book{}) || len(v.Models()) != 0 {
		t.Fatal("still registered")
	}
}

// §10.25: the default mask shows at most the last four characters (PCI DSS
// allows no more than the first six and last four of a card number), and
// fewer of a short value: one in four.
func TestMaskString(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"": "", "a": "*", "abc": "***", "1234": "***4", "12345": "****5", "12345678": "******78",
		"confidential": "*********ial", "Sensitive data": "***********ata", "héllo": "****o",
		"4111111111111111": "************1111", "41111111111111112222": "****************2222",
	} {
		if got := auditlog.MaskString(in); got != want {
			t.Errorf("MaskString(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseAction(t *testing.T) {
	t.Parallel()
	for _, a := range []auditlog.Action{auditlog.ActionCreate, auditlog.ActionUpdate, auditlog.ActionDelete, auditlog.ActionAccess} {
		got, err := auditlog.ParseAction(a.String())
		if err != nil || got != a {
			t.Fatalf("ParseAction(%q) = %v, %v", a.String(), got, err)
		}
	}
	if _, err := auditlog.ParseAction("destroy"); err == nil {
		t.Fatal("ParseAction accepted destroy")
	}
	if s := auditlog.Action(9).String(); s != "action(9)" {
		t.Fatal(s)
	}
}

// A Registry declared without NewRegistry works as an empty one, and a nil
// one refuses registrations with an error: neither panics.
func TestZeroAndNilRegistry(t *testing.T) {
	t.Parallel()
	var r auditlog.Registry
	if r.Contains(&book{}) {
		t.Fatal("a zero registry contains book")
	}
	r.Unregister(&book{})
	r.SetMask(nil)
	if err := r.Register(&book{}); err != nil || !r.Contains(book{}) {
		t.Fatalf("Register on a zero registry: %v", err)
	}
	var nilReg *auditlog.Registry
	if err := nilReg.Register(&book{}); !errors.Is(err, auditlog.ErrRegistration) {
		t.Fatalf("Register on a nil registry: %v", err)
	}
	if nilReg.Contains(&book{}) {
		t.Fatal("a nil registry contains book")
	}
	nilReg.Unregister(&book{})
	nilReg.SetMask(nil)
	v := registry.Of(nilReg)
	if len(v.Models()) != 0 || v.Generation() != 0 || v.Mask()("abcdefgh") != auditlog.MaskString("abcdefgh") {
		t.Fatal("a nil registry's view")
	}
	if _, ok := v.Lookup(reflect.TypeOf(book{})); ok {
		t.Fatal("a nil registry's view finds book")
	}
}

// maskKey masks with its own prefix: its method values share their code.
type maskKey struct{ prefix string }

func (k maskKey) mask(clear string) string { return k.prefix + strings.Repeat("*", len(clear)) }

var keyA, keyB = maskKey{"A"}, maskKey{"B"}
