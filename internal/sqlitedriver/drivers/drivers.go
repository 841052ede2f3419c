// Package drivers links every SQLite driver one binary can hold and
// registers them with package sqlitedriver: glebarez and the default driver
// (ncruces, or mattn when built with -tags auditlog_mattn; both register
// database/sql's "sqlite3", so one binary cannot hold both).
package drivers

import _ "github.com/go-auditlog/auditlog/internal/sqlitedriver/defaultdriver" // ncruces or mattn
