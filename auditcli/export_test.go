package auditcli

// IsTerminal is OSEnv's terminal test, for tests.
var IsTerminal = isTerminal
