//go:build auditlog_mattn

package defaultdriver

import (
	"gorm.io/driver/sqlite"
	"gorm.io/gorm"

	"github.com/go-auditlog/auditlog/internal/sqlitedriver"
)

func init() {
	sqlitedriver.Register(&sqlitedriver.Driver{
		Name:    sqlitedriver.Mattn,
		Module:  "gorm.io/driver/sqlite",
		SQLName: sqlite.DriverName,
		Dialector: func(pool gorm.ConnPool, dsn string) gorm.Dialector {
			return sqlite.New(sqlite.Config{Conn: pool, DSN: dsn})
		},
	})
}
