package auditcli

import "time"

// IsTerminal is OSEnv's terminal test, for tests.
var IsTerminal = isTerminal

// SetIdleTimeout sets how long serve and the demo keep an idle connection,
// until the function it returns is called.
func SetIdleTimeout(d time.Duration) func() {
	old := idleTimeout.Swap(int64(d))
	return func() { idleTimeout.Store(old) }
}
