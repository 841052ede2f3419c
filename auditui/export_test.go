package auditui

import "time"

// SetHTTP10ExportLimit sets the most bytes a download to an HTTP/1.0
// client is held for, until the function it returns is called.
func SetHTTP10ExportLimit(n int64) func() {
	old := http10ExportLimit.Swap(n)
	return func() { http10ExportLimit.Store(old) }
}

// TakeHTTP10Slots takes every slot of the downloads held for HTTP/1.0
// clients (waiting for those in use), until the function it returns is
// called.
func TakeHTTP10Slots() func() {
	for range cap(http10Held) {
		http10Held <- struct{}{}
	}
	return func() {
		for range cap(http10Held) {
			<-http10Held
		}
	}
}

// SetExportStall sets how long a download may make no progress before it
// is cut off, until the function it returns is called.
func SetExportStall(d time.Duration) func() {
	old := exportStall.Swap(int64(d))
	return func() { exportStall.Store(old) }
}
