package auditgorm_test

import (
	"bytes"
	"context"
	"database/sql/driver"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"gorm.io/gorm"
	"gorm.io/gorm/schema"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/auditgorm"
	"github.com/go-auditlog/auditlog/internal/testdb"
)

// Clear values that must appear in no column of any entry.
var (
	cardA, cardB   = "4929000011112222", "4929000033334444"
	hashA, hashB   = "$argon2id$pwhash-ALPHA-0001", "$argon2id$pwhash-BETA-0002"
	tagSecret      = "tagsecret-ALPHA-77"
	tokenA         = "tok_live_ALPHA_9999"
	diagA, diagB   = "diagnosis-ALPHA-33", "diagnosis-BETA-44"
	clearSecrets   = []string{cardA, cardB, hashA, hashB, tagSecret, tokenA, diagA, diagB}
	secretsOfVault = []any{&Vault{}, &VaultTag{}, &APIToken{}, &Patient{}}
)

// Vault has a masked card number and an excluded password hash, and shows
// both in its String and its additional data.
type Vault struct {
	ID           uint
	Owner        string
	Card         string
	PasswordHash string
	Tags         []VaultTag `gorm:"many2many:vault_labels"`
}

func (v Vault) String() string {
	return "Vault of " + v.Owner + " card " + v.Card + " hash " + v.PasswordHash
}

func (v Vault) AuditAdditionalData() any {
	return map[string]any{"card": v.Card, "hash": v.PasswordHash}
}

// VaultTag is an m2m neighbour whose repr shows its masked field.
type VaultTag struct {
	ID     uint
	Label  string
	Secret string
}

func (g VaultTag) String() string { return "Tag " + g.Label + " " + g.Secret }

// APIToken's key is masked.
type APIToken struct {
	Token string `gorm:"primaryKey;size:64"`
	Note  string
}

// Patient's diagnosis is stored through an encrypting serializer.
type Patient struct {
	ID        uint
	Name      string
	Diagnosis string `gorm:"serializer:testcrypt"`
}

func (p Patient) String() string { return p.Name + ": " + p.Diagnosis }

// testCrypt stands for an encrypting serializer: it stores "enc:" and the
// hex of the value's bytes XOR 0x5a.
type testCrypt struct{}

func (testCrypt) Scan(ctx context.Context, f *schema.Field, dst reflect.Value, dbValue any) error {
	var s string
	switch v := dbValue.(type) {
	case string:
		s = v
	case []byte:
		s = string(v)
	case nil:
		return nil
	default:
		return fmt.Errorf("testcrypt: %T", dbValue)
	}
	b, err := hex.DecodeString(strings.TrimPrefix(s, "enc:"))
	if err != nil {
		return err
	}
	for i := range b {
		b[i] ^= 0x5a
	}
	f.ReflectValueOf(ctx, dst).SetString(string(b))
	return nil
}

func (testCrypt) Value(_ context.Context, _ *schema.Field, _ reflect.Value, v any) (any, error) {
	b := []byte(v.(string))
	for i := range b {
		b[i] ^= 0x5a
	}
	return "enc:" + hex.EncodeToString(b), nil
}

func init() { schema.RegisterSerializer("testcrypt", testCrypt{}) }

var _ driver.Valuer = (*JSONDoc)(nil)

func registerSecrets(t *testing.T, db *gorm.DB) {
	t.Helper()
	reg := setup(t, db, secretsOfVault...)
	must(t, reg.Register(&Vault{}, auditlog.Mask("Card"), auditlog.Exclude("PasswordHash"), auditlog.Snapshot(), auditlog.M2M("Tags")))
	must(t, reg.Register(&VaultTag{}, auditlog.Mask("Secret")))
	must(t, reg.Register(&APIToken{}, auditlog.Mask("Token"), auditlog.Snapshot()))
	must(t, reg.Register(&Patient{}, auditlog.Snapshot()))
}

// writeSecrets creates, updates, links, reads (access entries) and deletes
// objects holding every clear secret.
func writeSecrets(t *testing.T, db *gorm.DB) {
	t.Helper()
	ctx := context.Background()
	tag := VaultTag{Label: "gold", Secret: tagSecret}
	must(t, db.Create(&tag).Error)
	v := Vault{Owner: "dana", Card: cardA, PasswordHash: hashA}
	must(t, db.Create(&v).Error)
	must(t, db.Model(&v).Association("Tags").Append(&tag))
	must(t, db.Model(&v).Updates(Vault{Card: cardB, PasswordHash: hashB}).Error)
	must(t, auditgorm.LogAccess(ctx, db, &v))
	must(t, db.Model(&v).Association("Tags").Clear())
	must(t, db.Delete(&v).Error)
	must(t, db.Delete(&tag).Error)

	tok := APIToken{Token: tokenA, Note: "ci"}
	must(t, db.Create(&tok).Error)
	must(t, db.Model(&tok).Update("note", "deploy").Error)
	must(t, auditgorm.LogAccess(ctx, db, &tok))
	must(t, db.Delete(&tok).Error)

	p := Patient{Name: "erin", Diagnosis: diagA}
	must(t, db.Create(&p).Error)
	must(t, db.Model(&p).Updates(Patient{Diagnosis: diagB}).Error)
	must(t, auditgorm.LogAccess(ctx, db, &p))
	must(t, db.Delete(&p).Error)
}

// rawEntryColumns returns every column of every entry as the driver gave it.
func rawEntryColumns(t *testing.T, db *gorm.DB) []string {
	t.Helper()
	rows, err := db.Raw("SELECT * FROM auditlog_entries").Rows()
	must(t, err)
	defer rows.Close()
	cols, err := rows.Columns()
	must(t, err)
	var out []string
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		must(t, rows.Scan(ptrs...))
		for i, v := range vals {
			if b, ok := v.([]byte); ok {
				v = string(b)
			}
			out = append(out, fmt.Sprintf("%s=%v", cols[i], v))
		}
	}
	must(t, rows.Err())
	return out
}

// No clear value of a masked or excluded field, of a masked key, of a
// masked field shown by an m2m neighbour's repr or of an encrypted field
// reaches any column of any entry, on any database.
func TestSecretsInNoColumn(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		registerSecrets(t, db)
		writeSecrets(t, db)
		cols := rawEntryColumns(t, db)
		if len(cols) == 0 {
			t.Fatal("no entries")
		}
		dump := strings.Join(cols, "\n")
		for _, s := range clearSecrets {
			if strings.Contains(dump, s) {
				for _, c := range cols {
					if strings.Contains(c, s) {
						t.Errorf("entry column holds %q: %s", s, c)
					}
				}
			}
		}
		// What is shown instead.
		for _, want := range []string{"************2222", "************4444", "Tag gold " + auditlog.MaskString(tagSecret), "Vault of dana card ************4444 hash \n"} {
			if !strings.Contains(dump, want) {
				t.Errorf("no entry shows %q:\n%s", want, dump)
			}
		}
		checkSecretEntries(t, db)
	})
}

// checkSecretEntries checks the entries of writeSecrets beyond the absence
// of clear values: a masked key is stored masked with no object_id, the
// excluded field is in no snapshot, the encrypted field is masked.
func checkSecretEntries(t *testing.T, db *gorm.DB) {
	t.Helper()
	maskedToken := auditlog.MaskString(tokenA)
	var tokens int
	for _, e := range entries(t, db) {
		snap := string(e.SerializedData)
		if strings.Contains(snap, "password_hash") {
			t.Errorf("%s entry %d: the snapshot names the excluded field: %s", e.Model, e.Action, snap)
		}
		switch e.Model {
		case "api_tokens":
			tokens++
			if e.ObjectPK != maskedToken || e.ObjectID != nil {
				t.Errorf("token entry keyed %q (id %v), want %q", e.ObjectPK, e.ObjectID, maskedToken)
			}
			if e.ObjectRepr != "APIToken("+maskedToken+")" {
				t.Errorf("token repr %q", e.ObjectRepr)
			}
		case "patients":
			if c, ok := e.Changes["diagnosis"]; ok && (!strings.Contains(string(c.New)+string(c.Old), "*") || strings.Contains(string(c.New)+string(c.Old), "enc:")) {
				t.Errorf("diagnosis recorded as %s → %s, want masked", c.Old, c.New)
			}
			if strings.Contains(e.ObjectRepr, "diagnosis") {
				t.Errorf("patient repr %q", e.ObjectRepr)
			}
		}
	}
	if tokens != 4 {
		t.Errorf("%d token entries, want 4", tokens)
	}
}

// sqliteFiles runs write on a new SQLite file database with the entries
// table and secure_delete, checkpoints and vacuums it, closes it, and
// returns the bytes of the database and its journal files by name.
func sqliteFiles(t *testing.T, write func(db *gorm.DB)) map[string][]byte {
	t.Helper()
	path := filepath.Join(t.TempDir(), "app.db")
	db := testdb.OpenSQLiteFile(t, path, &gorm.Config{}, "secure_delete(1)")
	sqlDB, _ := db.DB()
	must(t, migrateSQL(sqlDB))
	write(db)
	must(t, db.Exec("PRAGMA wal_checkpoint(TRUNCATE)").Error)
	must(t, db.Exec("VACUUM").Error)
	must(t, sqlDB.Close())
	files, _ := filepath.Glob(path + "*")
	out := map[string][]byte{}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		must(t, err)
		out[f] = raw
	}
	return out
}

// The same on SQLite's file: after VACUUM, no clear secret is in any byte
// of the database or its journal.
func TestSecretsNotInSQLiteFile(t *testing.T) {
	t.Parallel()
	files := sqliteFiles(t, func(db *gorm.DB) {
		registerSecrets(t, db)
		writeSecrets(t, db)
	})
	for f, raw := range files {
		for _, s := range clearSecrets {
			if bytes.Contains(raw, []byte(s)) {
				t.Errorf("%s holds the clear secret %q", f, s)
			}
		}
	}
}

// An excluded field appears in no snapshot, and naming it in
// SnapshotFields is an error rather than a leak.
func TestExcludedFieldInNoSnapshot(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		reg := setup(t, db, &Vault{})
		must(t, reg.Register(&Vault{}, auditlog.Exclude("PasswordHash"), auditlog.Snapshot()))
		v := Vault{Owner: "o", PasswordHash: hashA}
		must(t, db.Create(&v).Error)
		must(t, db.Model(&v).Updates(map[string]any{"owner": "p", "password_hash": hashB}).Error)
		must(t, auditgorm.LogAccess(context.Background(), db, &v))
		es := expectCount(t, db, 3)
		for _, e := range es {
			var snap struct {
				Fields map[string]any `json:"fields"`
			}
			must(t, json.Unmarshal(e.SerializedData, &snap))
			if _, ok := snap.Fields["password_hash"]; ok || len(snap.Fields) == 0 {
				t.Errorf("entry %d snapshot %s", e.Action, e.SerializedData)
			}
		}
		err := reg.Register(&Vault{}, auditlog.Exclude("PasswordHash"), auditlog.Snapshot(), auditlog.SnapshotFields("Owner", "PasswordHash"))
		if err == nil || !strings.Contains(err.Error(), "excluded") {
			t.Fatalf("SnapshotFields naming an excluded field: %v", err)
		}
	})
}

// Masking leaves the caller's object as it was, even where the masked field
// sits behind an embedded pointer shared with other objects.
type Contact struct {
	Email string
}

type Customer struct {
	ID uint
	*Contact
	Name string
}

func (c Customer) String() string {
	if c.Contact == nil {
		return c.Name
	}
	return c.Name + " <" + c.Email + ">"
}

func TestMaskedReprLeavesObjectAlone(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		reg := setup(t, db, &Customer{})
		must(t, reg.Register(&Customer{}, auditlog.Mask("Email")))
		shared := &Contact{Email: "ann@example.com"}
		c := Customer{Name: "ann", Contact: shared}
		must(t, db.Create(&c).Error)
		if shared.Email != "ann@example.com" || c.Contact != shared {
			t.Fatalf("the caller's object changed: %+v %+v", c, shared)
		}
		e := expectCount(t, db, 1)[0]
		if want := "ann <" + auditlog.MaskString("ann@example.com") + ">"; e.ObjectRepr != want {
			t.Fatalf("repr %q, want %q", e.ObjectRepr, want)
		}
		c2 := Customer{Name: "bob"} // no contact at all
		must(t, db.Create(&c2).Error)
	})
}

// A field stored through a custom serializer is masked by default; Unmask
// records the form the database stores; masking and unmasking one field is
// an error.
func TestSerializerFields(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		reg := setup(t, db, &Patient{})
		must(t, reg.Register(&Patient{}))
		p := Patient{Name: "erin", Diagnosis: diagA}
		must(t, db.Create(&p).Error)
		var stored string
		must(t, db.Raw("SELECT diagnosis FROM patients").Scan(&stored).Error)
		e := expectCount(t, db, 1)[0]
		if got, want := string(e.Changes["diagnosis"].New), `"`+auditlog.MaskString(stored)+`"`; got != want {
			t.Fatalf("diagnosis recorded as %s, want %s", got, want)
		}
		if e.ObjectRepr != "erin: [masked]" {
			t.Fatalf("repr %q", e.ObjectRepr)
		}
		must(t, reg.Reregister(&Patient{}, auditlog.Unmask("Diagnosis")))
		must(t, db.Model(&p).Updates(Patient{Diagnosis: diagB}).Error)
		var now string
		must(t, db.Raw("SELECT diagnosis FROM patients").Scan(&now).Error)
		e = expectCount(t, db, 2)[1]
		if got, want := string(e.Changes["diagnosis"].New), `"`+now+`"`; got != want || !strings.HasPrefix(now, "enc:") {
			t.Fatalf("unmasked diagnosis recorded as %s, want the stored %s", got, want)
		}
		must(t, reg.Reregister(&Patient{}, auditlog.Unmask("Diagnosis"), auditlog.Mask("Diagnosis")))
		if err := db.Model(&p).Update("name", "x").Error; err == nil || !strings.Contains(err.Error(), "both masked and unmasked") {
			t.Fatalf("mask and unmask: %v", err)
		}
	})
}

// An excluded primary key would have to appear as the entry's object key:
// registering it is an error that points to Mask, and registers nothing.
func TestExcludedPrimaryKeyRefused(t *testing.T) {
	t.Parallel()
	reg := auditlog.NewRegistry()
	if err := reg.Register(&APIToken{}, auditlog.Exclude("Token")); err == nil || !strings.Contains(err.Error(), "use Mask") {
		t.Fatalf("Register with an excluded key: %v", err)
	}
	if reg.Contains(&APIToken{}) {
		t.Fatal("the refused registration was kept")
	}
}

// A repr that prints a related object's masked field shows it masked: the
// related model's registration applies to it.
type Patron struct {
	ID    uint
	Email string
}

type Loan struct {
	ID          uint
	PatronID    uint
	Patron      Patron
	GuarantorID *uint
	Guarantor   *Patron
	Extra       []Patron `gorm:"many2many:loan_cosigners"`
}

func (l Loan) String() string {
	s := "loan for " + l.Patron.Email
	for _, c := range l.Extra {
		s += ", cosigned by " + c.Email
	}
	if l.Guarantor != nil {
		s += ", guaranteed by " + l.Guarantor.Email
	}
	return s
}

func TestRelatedMaskedFieldsInRepr(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		reg := setup(t, db, &Patron{}, &Loan{})
		must(t, reg.Register(&Patron{}, auditlog.Mask("Email")))
		must(t, reg.Register(&Loan{}))
		dana, eve, finn := "dana-secret@example.com", "eve-secret@example.com", "finn-secret@example.com"
		guarantor := &Patron{Email: finn}
		l := Loan{Patron: Patron{Email: dana}, Extra: []Patron{{Email: eve}}, Guarantor: guarantor}
		must(t, db.Create(&l).Error)
		if l.Patron.Email != dana || l.Extra[0].Email != eve || l.Guarantor != guarantor || guarantor.Email != finn {
			t.Fatalf("the caller's objects changed: %+v", l)
		}
		dump := strings.Join(rawEntryColumns(t, db), "\n")
		for _, s := range []string{dana, eve, finn} {
			if strings.Contains(dump, s) {
				t.Errorf("an entry holds %q:\n%s", s, dump)
			}
		}
		if want := "loan for " + auditlog.MaskString(dana) + ", cosigned by " + auditlog.MaskString(eve) + ", guaranteed by " + auditlog.MaskString(finn); !strings.Contains(dump, want) {
			t.Errorf("no entry shows %q:\n%s", want, dump)
		}
	})
}

// Locker has a PIN left out of the audit and a masked code.
type Locker struct {
	ID   uint
	Name string
	PIN  int
	Code int
}

// A value given to Restore for a field the entries cannot tell (excluded,
// masked) is the caller's secret: an error about it names the field and
// its type, never the value.
func TestRestoreErrorShowsNoValue(t *testing.T) {
	db := testdb.Open(t, "sqlite")
	reg := setup(t, db, &Locker{})
	must(t, reg.Register(&Locker{}, auditlog.Exclude("PIN"), auditlog.Mask("Code")))
	v := Locker{Name: "a", PIN: 4711, Code: 1234}
	must(t, db.Create(&v).Error)
	must(t, db.Delete(&v).Error)
	for _, vals := range []map[string]any{
		{"PIN": "4711-secret-pin", "Code": 1},
		{"PIN": 1, "Code": "1234-secret-code"},
	} {
		err := auditgorm.Restore(context.Background(), db, &Locker{ID: v.ID}, auditgorm.RevertOptions{Values: vals})
		if err == nil || strings.Contains(err.Error(), "secret") {
			t.Fatalf("Restore with %v: %v", vals, err)
		}
	}
}

// Tally's repr prints its count.
type Tally struct {
	ID   uint
	Name string
	N    int
}

func (t Tally) String() string { return fmt.Sprintf("%s: %d", t.Name, t.N) }

// A row whose value a field cannot take (text in SQLite's INTEGER column,
// which keeps it) gives the entry the default repr, not one the object's
// String made of a struct with that field left zero ("b: 0").
func TestReprOfARowTheStructCannotHold(t *testing.T) {
	db := testdb.Open(t, "sqlite")
	reg := setup(t, db, &Tally{})
	must(t, reg.Register(&Tally{}))
	x := Tally{Name: "a", N: 7}
	must(t, db.Create(&x).Error)
	must(t, db.Exec("UPDATE tallies SET n = 'seven' WHERE id = ?", x.ID).Error) // not audited
	must(t, db.Model(&Tally{ID: x.ID}).Update("name", "b").Error)
	es := expectCount(t, db, 2)
	if es[0].ObjectRepr != "a: 7" {
		t.Fatalf("the create's repr: %q", es[0].ObjectRepr)
	}
	if got := es[1].ObjectRepr; strings.HasPrefix(got, "b: ") {
		t.Fatalf("the update's repr %q was made of a struct without its count", got)
	}
}

// Rack's repr prints a value of its JSON-serialized details.
type Rack struct {
	ID      uint
	Name    string
	Details map[string]any `gorm:"serializer:json"`
}

func (s Rack) String() string { return fmt.Sprintf("%s (%v)", s.Name, s.Details["isbn"]) }

// The object an update's repr is made of holds the row's JSON-serialized
// fields decoded, as GORM's reads decode them: they were left empty.
func TestReprOfARowDecodesJSONFields(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		reg := setup(t, db, &Rack{})
		must(t, reg.Register(&Rack{}))
		x := Rack{Name: "a", Details: map[string]any{"isbn": "978-0"}}
		must(t, db.Create(&x).Error)
		must(t, db.Model(&Rack{ID: x.ID}).Update("name", "b").Error)
		if got := expectCount(t, db, 2)[1].ObjectRepr; got != "b (978-0)" {
			t.Fatalf("the update's repr: %q", got)
		}
	})
}

// dkKey has a masked secret; a dkOwner holds one, and a dkAcct belongs to
// an owner: the account's repr prints its owner's key, two relations deep.
type dkKey struct {
	ID     uint
	KeyVal string
}

type dkOwner struct {
	ID      uint
	Name    string
	DkKeyID uint
	Key     dkKey `gorm:"foreignKey:DkKeyID"`
}

type dkAcct struct {
	ID        uint
	Label     string
	DkOwnerID uint
	Owner     dkOwner   `gorm:"foreignKey:DkOwnerID"`
	Cosigners []dkOwner `gorm:"many2many:dk_acct_cosigners"`
}

func (a dkAcct) String() string {
	s := a.Label + " of " + a.Owner.Name + " key=" + a.Owner.Key.KeyVal
	for _, c := range a.Cosigners {
		s += ", cosigned with key=" + c.Key.KeyVal
	}
	return s
}

// A related object's related object's masked field was stored in clear in
// the repr: related objects were hidden one level deep.
func TestMaskedFieldsOfRelatedObjectsAtAnyDepth(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		reg := setup(t, db, &dkKey{}, &dkOwner{}, &dkAcct{})
		must(t, reg.Register(&dkKey{}, auditlog.Mask("KeyVal")))
		must(t, reg.Register(&dkAcct{}))
		k1, k2 := "SECRET-key-0001", "SECRET-key-0002"
		a := dkAcct{Label: "acct", Owner: dkOwner{Name: "olga", Key: dkKey{KeyVal: k1}}, Cosigners: []dkOwner{{Name: "pat", Key: dkKey{KeyVal: k2}}}}
		must(t, db.Create(&a).Error)
		if a.Owner.Key.KeyVal != k1 || a.Cosigners[0].Key.KeyVal != k2 {
			t.Fatalf("the caller's objects changed: %+v", a)
		}
		must(t, db.Model(&a).Update("label", "acct 2").Error)
		dump := strings.Join(rawEntryColumns(t, db), "\n")
		for _, s := range []string{k1, k2} {
			if strings.Contains(dump, s) {
				t.Errorf("an entry holds %q:\n%s", s, dump)
			}
		}
		if want := "acct 2 of olga key=" + auditlog.MaskString(k1) + ", cosigned with key=" + auditlog.MaskString(k2); !strings.Contains(dump, want) {
			t.Errorf("no entry shows %q:\n%s", want, dump)
		}
	})
}
