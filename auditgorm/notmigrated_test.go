package auditgorm_test

import (
	"strings"
	"testing"

	"github.com/go-auditlog/auditlog/internal/testdb"
)

// A write into a database whose audit tables were never made fails (it
// cannot be recorded), with an error that says so and how to make them,
// on every database and write path: PostgreSQL's statements that write
// their entries themselves failed with the driver's words alone.
func TestWriteBeforeMigrateSaysToMigrate(t *testing.T) {
	for _, name := range testdb.Names() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			db := testdb.OpenEmpty(t, name)
			reg := setup(t, db, &Ctr{})
			must(t, reg.Register(&Ctr{}))
			must(t, db.Exec("INSERT INTO ctrs (id, n) VALUES (10, 1), (11, 1)").Error) // not audited
			for what, err := range map[string]error{
				"create": db.Create(&Ctr{ID: 1, N: 1}).Error,
				"batch":  db.Create(&[]Ctr{{ID: 2}, {ID: 3}}).Error,
				"update": db.Model(&Ctr{}).Where("id = 10").Update("n", 2).Error,
				"delete": db.Where("id = 11").Delete(&Ctr{}).Error,
			} {
				if err == nil || !strings.Contains(err.Error(), "auditgorm") || !strings.Contains(err.Error(), "auditlog_entries") || !strings.Contains(err.Error(), "Migrate") {
					t.Errorf("%s: %v", what, err)
				}
			}
		})
	}
}
