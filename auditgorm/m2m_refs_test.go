package auditgorm_test

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
	"strings"
	"testing"

	"gorm.io/gorm"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/internal/testdb"
)

// Relations joined by other columns than the primary keys: the objects of
// their entries are named by primary key, or the change is refused before
// anything is written.

// m2mLines renders the many-to-many entries as "pk repr field op [objects]".
func m2mLines(t *testing.T, db *gorm.DB) []string {
	t.Helper()
	var got []string
	for _, e := range entries(t, db) {
		for _, f := range e.Changes.Fields() {
			if c := e.Changes[f]; c.M2M != nil {
				got = append(got, e.ObjectPK+" "+e.ObjectRepr+" "+f+" "+string(c.M2M.Operation)+" ["+strings.Join(c.M2M.Objects, ",")+"]")
			}
		}
	}
	return got
}

// A join row that refers to no owner is refused before it is written, so a
// caller that logs the error and commits commits nothing unrecorded.
func TestM2MRefusalComesBeforeTheWrite(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		db.Config.DisableForeignKeyConstraintWhenMigrating = true
		reg := setup(t, db, &CodedUser{}, &CodedRole{})
		must(t, reg.Register(&CodedUser{}, auditlog.M2M("Roles")))
		quiet := db.WithContext(auditlog.Disable(context.Background()))
		must(t, quiet.Create(&CodedRole{ID: 10, Slug: "admin"}).Error)
		var joinErr error
		commitErr := db.Transaction(func(tx *gorm.DB) error {
			joinErr = tx.Table("coded_user_roles").Create(map[string]any{"user_code": "nobody", "role_slug": "admin"}).Error
			return nil // the caller logs it and commits
		})
		// On PostgreSQL a failed capture fails the transaction, as any
		// failed statement does there; elsewhere the commit goes through.
		if commitErr != nil && db.Dialector.Name() != "postgres" {
			t.Fatal(commitErr)
		}
		var n int64
		must(t, quiet.Table("coded_user_roles").Count(&n).Error)
		if joinErr == nil || n != 0 || len(m2mLines(t, db)) != 0 {
			t.Errorf("error %v, %d join rows committed, entries %q; want a refusal and nothing written", joinErr, n, m2mLines(t, db))
		}
		// A reference column may be masked: the error names no value.
		if joinErr != nil && strings.Contains(joinErr.Error(), "nobody") {
			t.Errorf("the refusal shows the reference's value: %v", joinErr)
		}
	})
}

// NUser's code is not unique: a join row by code refers to every user with
// it, so its change cannot name one owner and is refused, unwritten.
type NUser struct {
	ID    uint
	Code  string  `gorm:"index;size:32"`
	Roles []NRole `gorm:"many2many:n_user_roles;foreignKey:Code;joinForeignKey:UserCode;References:Slug;joinReferences:RoleSlug"`
}

type NRole struct {
	ID   uint
	Slug string `gorm:"uniqueIndex;size:32"`
}

func TestM2MNonUniqueReferenceIsRefused(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		db.Config.DisableForeignKeyConstraintWhenMigrating = true
		reg := setup(t, db, &NUser{}, &NRole{})
		must(t, reg.Register(&NUser{}, auditlog.M2M("Roles")))
		quiet := db.WithContext(auditlog.Disable(context.Background()))
		must(t, quiet.Create(&NUser{ID: 1, Code: "x"}).Error)
		must(t, quiet.Create(&NUser{ID: 2, Code: "x"}).Error)
		must(t, quiet.Create(&NRole{ID: 10, Slug: "admin"}).Error)
		err := db.Model(&NUser{ID: 1, Code: "x"}).Association("Roles").Append(&NRole{ID: 10, Slug: "admin"})
		var n int64
		must(t, quiet.Table("n_user_roles").Count(&n).Error)
		if err == nil || !strings.Contains(err.Error(), "more than one") || n != 0 || len(m2mLines(t, db)) != 0 {
			t.Errorf("error %v, %d join rows, entries %q; want a refusal and nothing written", err, n, m2mLines(t, db))
		}
	})
}

// On MariaDB codes match as the column's collation compares them (trailing
// spaces aside): an Append whose slug has a trailing space names the role
// the database relates it to.
func TestM2MReferenceMatchesAsMariaDBCompares(t *testing.T) {
	if !contains(testdb.Names(), "mysql") {
		t.Skip(testdb.MySQLEnv + " is not set")
	}
	db := testdb.Open(t, "mysql")
	db.Config.DisableForeignKeyConstraintWhenMigrating = true
	reg := setup(t, db, &CodedUser{}, &CodedRole{})
	must(t, reg.Register(&CodedUser{}, auditlog.M2M("Roles")))
	quiet := db.WithContext(auditlog.Disable(context.Background()))
	must(t, quiet.Create(&CodedUser{ID: 2, Code: "u-b"}).Error)
	must(t, quiet.Create(&CodedRole{ID: 10, Slug: "admin"}).Error)
	must(t, db.Model(&CodedUser{ID: 2, Code: "u-b"}).Association("Roles").Append(&CodedRole{ID: 10, Slug: "admin "}))
	if got := m2mLines(t, db); strings.Join(got, "|") != "2 CodedUser(2) roles add [CodedRole(10)]" {
		t.Errorf("entries %q, want user 2 adding role 10", got)
	}
}

// Both sides registered on one join table joined by codes (unicode and
// integer-looking ones): after appends, a replace, an append from the other
// side, a delete, a clear of a soft-deleted owner and a Table(join) delete,
// replaying the owners' entries gives the pairs in the join table.
type BUser struct {
	ID        uint
	Code      string  `gorm:"uniqueIndex;size:32"`
	Roles     []BRole `gorm:"many2many:b_user_roles;foreignKey:Code;joinForeignKey:UserCode;References:Slug;joinReferences:RoleSlug"`
	DeletedAt gorm.DeletedAt
}

type BRole struct {
	ID    uint
	Slug  string  `gorm:"uniqueIndex;size:32"`
	Users []BUser `gorm:"many2many:b_user_roles;foreignKey:Slug;joinForeignKey:RoleSlug;References:Code;joinReferences:UserCode"`
}

func TestM2MBothSidesJoinedByCodes(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		reg := setup(t, db, &BUser{}, &BRole{})
		must(t, reg.Register(&BUser{}, auditlog.M2M("Roles")))
		must(t, reg.Register(&BRole{}, auditlog.M2M("Users")))
		quiet := db.WithContext(auditlog.Disable(context.Background()))
		must(t, quiet.Create(&BUser{ID: 1, Code: "2"}).Error)
		must(t, quiet.Create(&BUser{ID: 2, Code: "ü-ß"}).Error)
		must(t, quiet.Create(&BRole{ID: 10, Slug: "1"}).Error)
		must(t, quiet.Create(&BRole{ID: 11, Slug: "日本"}).Error)
		u1, u2 := BUser{ID: 1, Code: "2"}, BUser{ID: 2, Code: "ü-ß"}
		r10, r11 := BRole{ID: 10, Slug: "1"}, BRole{ID: 11, Slug: "日本"}
		must(t, db.Model(&u1).Association("Roles").Append(&r10, &r11))
		must(t, db.Model(&u1).Association("Roles").Replace(&r11))
		must(t, db.Model(&r11).Association("Users").Append(&u2))
		must(t, db.Model(&r10).Association("Users").Append(&u2))
		must(t, db.Model(&u1).Association("Roles").Delete(&r11))
		must(t, db.Table("b_user_roles").Create(map[string]any{"user_code": "2", "role_slug": "1"}).Error)
		must(t, quiet.Delete(&u2).Error) // soft delete
		must(t, db.Model(&u2).Association("Roles").Delete(&r10))
		must(t, db.Table("b_user_roles").Where("role_slug = ?", "1").Delete(map[string]any{}).Error)

		// Replay the users' entries: user id → role ids.
		replayed := map[string]map[string]bool{}
		for _, e := range entries(t, db) {
			c, ok := e.Changes["roles"]
			if !ok || c.M2M == nil || e.Model != "b_users" {
				continue
			}
			set := replayed[e.ObjectPK]
			if set == nil {
				set = map[string]bool{}
				replayed[e.ObjectPK] = set
			}
			if c.M2M.Operation == auditlog.M2MClear {
				clear(set)
			}
			for _, o := range c.M2M.Objects {
				id := strings.TrimSuffix(strings.TrimPrefix(o, "BRole("), ")")
				set[id] = c.M2M.Operation == auditlog.M2MAdd
			}
		}
		var got, want []string
		for u, set := range replayed {
			for r, in := range set {
				if in {
					got = append(got, u+"-"+r)
				}
			}
		}
		var pairs []struct{ U, R string }
		must(t, quiet.Raw("SELECT CAST(u.id AS CHAR(20)) AS u, CAST(r.id AS CHAR(20)) AS r FROM b_user_roles j JOIN b_users u ON u.code = j.user_code JOIN b_roles r ON r.slug = j.role_slug").Scan(&pairs).Error)
		for _, p := range pairs {
			want = append(want, strings.TrimSpace(p.U)+"-"+strings.TrimSpace(p.R))
		}
		sort.Strings(got)
		sort.Strings(want)
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("replayed pairs %v, join table %v\nentries %q", got, want, m2mLines(t, db))
		}
	})
}

// Composite references whose values contain NUL bytes: ("a\x00", "b") and
// ("a", "\x00b") are two owners, and a delete of both owners' rows records
// one removal on each.
type KUser struct {
	ID     uint
	Tenant string  `gorm:"size:16;uniqueIndex:kt"`
	Code   string  `gorm:"size:16;uniqueIndex:kt"`
	Roles  []KRole `gorm:"many2many:k_user_roles;foreignKey:Tenant,Code;joinForeignKey:UserTenant,UserCode;References:ID;joinReferences:RoleID"`
}

type KRole struct {
	ID   uint
	Slug string
}

func TestM2MCompositeReferencesDoNotCollide(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		if db.Dialector.Name() == "postgres" {
			t.Skip("PostgreSQL text holds no NUL")
		}
		db.Config.DisableForeignKeyConstraintWhenMigrating = true
		reg := setup(t, db, &KUser{}, &KRole{})
		must(t, reg.Register(&KUser{}, auditlog.M2M("Roles")))
		quiet := db.WithContext(auditlog.Disable(context.Background()))
		must(t, quiet.Create(&KUser{ID: 1, Tenant: "a\x00", Code: "b"}).Error)
		must(t, quiet.Create(&KUser{ID: 2, Tenant: "a", Code: "\x00b"}).Error)
		must(t, quiet.Create(&KRole{ID: 10, Slug: "r"}).Error)
		must(t, db.Model(&KUser{ID: 1, Tenant: "a\x00", Code: "b"}).Association("Roles").Append(&KRole{ID: 10}))
		must(t, db.Table("k_user_roles").Create(map[string]any{"user_tenant": "a", "user_code": "\x00b", "role_id": 10}).Error)
		must(t, db.Table("k_user_roles").Where("role_id = ?", 10).Delete(map[string]any{}).Error)
		want := []string{"1 KUser(1) roles add [KRole(10)]", "2 KUser(2) roles add [KRole(10)]", "1 KUser(1) roles remove [KRole(10)]", "2 KUser(2) roles remove [KRole(10)]"}
		got := m2mLines(t, db)
		sort.Strings(got[2:])
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("entries %q, want %q", got, want)
		}
	})
}

// A relation joined by other columns than the keys names the related row
// its read found by those columns. Another transaction that moves the
// reference to another row before the pair is inserted cannot make the
// entry name the wrong row: on MariaDB the read holds the rows; on
// PostgreSQL, whose row locks need the UPDATE privilege, the references are
// resolved again after the write and a moved one is refused with a retry
// error (before, the entry named role 10 for a pair that referred to role
// 11).
func TestM2MReferenceHeldUntilTheInsert(t *testing.T) {
	for _, name := range testdb.Names() {
		if name == "sqlite" {
			continue // one writer at a time
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			db, counter := testdb.OpenCounting(t, name)
			reg := setup(t, db, &CodedUser{}, &CodedRole{})
			must(t, reg.Register(&CodedUser{}, auditlog.M2M("Roles")))
			quiet := db.WithContext(auditlog.Disable(context.Background()))
			must(t, quiet.Create(&CodedUser{ID: 1, Code: "u-a"}).Error)
			must(t, quiet.Create(&CodedRole{ID: 10, Slug: "admin"}).Error)
			must(t, quiet.Create(&CodedRole{ID: 11, Slug: "spare"}).Error)
			base, err := db.DB()
			must(t, err)
			// Another transaction moves the slug to role 11; held rows make
			// it wait past its deadline.
			ctx, moved := interleave(t, counter, func(q string) bool {
				return strings.HasPrefix(q, "SELECT") && strings.Contains(q, "coded_roles")
			}, func(ctx context.Context) error {
				tx, err := base.BeginTx(ctx, nil)
				if err != nil {
					return err
				}
				defer func() { _ = tx.Rollback() }()
				if _, err := tx.ExecContext(ctx, "UPDATE coded_roles SET slug = 'old-admin' WHERE id = 10"); err != nil {
					return err
				}
				if _, err := tx.ExecContext(ctx, "UPDATE coded_roles SET slug = 'admin' WHERE id = 11"); err != nil {
					return err
				}
				return tx.Commit()
			})
			err = db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
				return tx.Table("coded_user_roles").Create(map[string]any{"user_code": "u-a", "role_slug": "admin"}).Error
			}, &sql.TxOptions{Isolation: sql.LevelReadCommitted})
			counter.AfterQuery(nil)
			got := m2mLines(t, db)
			if err != nil {
				// PostgreSQL lets the other transaction move the slug, and
				// sees it moved after the write: a retry, nothing recorded.
				if !strings.Contains(err.Error(), "retry the transaction") || len(got) != 0 {
					t.Fatalf("the link: %v; the entries: %q", err, got)
				}
				return
			}
			var ids []uint
			must(t, quiet.Raw("SELECT r.id FROM coded_user_roles j JOIN coded_roles r ON r.slug = j.role_slug WHERE j.user_code = 'u-a'").Scan(&ids).Error)
			if len(ids) != 1 || strings.Join(got, "|") != fmt.Sprintf("1 CodedUser(1) roles add [CodedRole(%d)]", ids[0]) {
				t.Errorf("the pair refers to role(s) %v (the other transaction moved the slug: %v); the entries: %q", ids, *moved, got)
			}
		})
	}
}

// Linking by a reference that is not a key needs no more privilege on the
// referenced table than GORM alone: SELECT (a row lock there would need
// UPDATE on PostgreSQL).
func TestM2MReferenceReadNeedsOnlySelect(t *testing.T) {
	if !contains(testdb.Names(), "postgres") {
		t.Skip(testdb.PostgresEnv + " is not set")
	}
	db := testdb.Open(t, "postgres")
	reg := setup(t, db, &CodedUser{}, &CodedRole{})
	must(t, reg.Register(&CodedUser{}, auditlog.M2M("Roles")))
	quiet := db.WithContext(auditlog.Disable(context.Background()))
	must(t, quiet.Create(&CodedUser{ID: 1, Code: "u-a"}).Error)
	must(t, quiet.Create(&CodedRole{ID: 10, Slug: "admin"}).Error)
	var schemaName string
	must(t, db.Raw("SELECT current_schema()").Scan(&schemaName).Error)
	role := schemaName + "_app" // the schema's name is the test's own
	must(t, db.Exec("CREATE ROLE "+role+" NOLOGIN").Error)
	t.Cleanup(func() {
		_ = quiet.Exec("DROP OWNED BY " + role).Error
		_ = quiet.Exec("DROP ROLE " + role).Error
	})
	for _, q := range []string{
		"GRANT USAGE ON SCHEMA " + schemaName + " TO " + role,
		"GRANT ALL ON ALL TABLES IN SCHEMA " + schemaName + " TO " + role,
		"GRANT ALL ON ALL SEQUENCES IN SCHEMA " + schemaName + " TO " + role,
		"REVOKE ALL ON coded_roles FROM " + role,
		"GRANT SELECT ON coded_roles TO " + role,
	} {
		must(t, db.Exec(q).Error)
	}
	err := db.Transaction(func(tx *gorm.DB) error {
		must(t, tx.Exec("SET LOCAL ROLE "+role).Error)
		return tx.Table("coded_user_roles").Create(map[string]any{"user_code": "u-a", "role_slug": "admin"}).Error
	})
	if err != nil {
		t.Fatalf("a link by a role with SELECT on coded_roles: %v", err)
	}
	if got := m2mLines(t, db); strings.Join(got, "|") != "1 CodedUser(1) roles add [CodedRole(10)]" {
		t.Errorf("entries %q", got)
	}
}
