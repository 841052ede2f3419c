//go:build !auditlog_mattn

package defaultdriver

import (
	"github.com/ncruces/go-sqlite3/gormlite"
	"gorm.io/gorm"

	"github.com/go-auditlog/auditlog/internal/sqlitedriver"
)

func init() {
	sqlitedriver.Register(&sqlitedriver.Driver{
		Name:    sqlitedriver.Ncruces,
		Module:  "github.com/ncruces/go-sqlite3/gormlite",
		SQLName: "sqlite3",
		Dialector: func(pool gorm.ConnPool, dsn string) gorm.Dialector {
			if pool != nil {
				return gormlite.OpenDB(pool)
			}
			return gormlite.Open(dsn)
		},
	})
}
