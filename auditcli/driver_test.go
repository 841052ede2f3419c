package auditcli_test

// The tests run the command as cmd/auditlog builds it, with its SQLite
// driver.
import _ "github.com/go-auditlog/auditlog/internal/sqlitedriver/defaultdriver"
