// Package drivers links the SQLite drivers into a binary and registers them
// with package sqlitedriver: glebarez always, and ncruces, or mattn when
// built with -tags auditlog_mattn (both register database/sql's "sqlite3",
// so one binary cannot hold both).
package drivers
