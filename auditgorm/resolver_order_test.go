package auditgorm_test

import (
	"strings"
	"testing"

	"gorm.io/gorm"
	"gorm.io/plugin/dbresolver"

	"github.com/go-auditlog/auditlog/auditgorm"
	"github.com/go-auditlog/auditlog/internal/testdb"
)

// dbresolver registered after auditgorm opens its sources and replicas
// with the plugins installed, which installs auditgorm a second time: the
// error said to call New once per database; it says to register
// dbresolver first, and that order works.
func TestDBResolverRegisteredAfterThePlugin(t *testing.T) {
	db, dsn := testdb.OpenWithDSN(t, "sqlite")
	must(t, db.Use(auditgorm.New(auditgorm.Config{})))
	err := db.Use(dbresolver.Register(dbresolver.Config{Replicas: []gorm.Dialector{testdb.Dialector(t, "sqlite", nil, dsn)}}))
	if err == nil || !strings.Contains(err.Error(), "db.Use dbresolver first") {
		t.Errorf("dbresolver after the plugin: %v", err)
	}
	first, dsn2 := testdb.OpenWithDSN(t, "sqlite")
	must(t, first.Use(dbresolver.Register(dbresolver.Config{Replicas: []gorm.Dialector{testdb.Dialector(t, "sqlite", nil, dsn2)}})))
	must(t, first.Use(auditgorm.New(auditgorm.Config{})))
}
