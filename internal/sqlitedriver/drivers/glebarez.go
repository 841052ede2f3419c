package drivers

import (
	"github.com/glebarez/sqlite"
	"gorm.io/gorm"

	"github.com/go-auditlog/auditlog/internal/sqlitedriver"
)

func init() {
	sqlitedriver.Register(&sqlitedriver.Driver{
		Name:    sqlitedriver.Glebarez,
		Module:  "github.com/glebarez/sqlite",
		SQLName: sqlite.DriverName,
		Dialector: func(pool gorm.ConnPool, dsn string) gorm.Dialector {
			return &sqlite.Dialector{Conn: pool, DSN: dsn}
		},
	})
}
