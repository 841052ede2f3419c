// Package defaultdriver links the default SQLite driver into a binary and
// registers it with package sqlitedriver: ncruces, or mattn when built with
// -tags auditlog_mattn.
package defaultdriver
