//go:build auditlog_mattn

package sqlitedriver

// Default is mattn in a build with -tags auditlog_mattn.
const Default = Mattn
