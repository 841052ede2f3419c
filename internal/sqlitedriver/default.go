//go:build !auditlog_mattn

package sqlitedriver

// Default is the driver the command, the examples and the tests use unless
// told otherwise: ncruces, or mattn in a build with -tags auditlog_mattn.
const Default = Ncruces
