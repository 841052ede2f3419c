package auditui

// SetHTTP10ExportLimit sets the most bytes a download to an HTTP/1.0
// client is held for, until the function it returns is called.
func SetHTTP10ExportLimit(n int64) func() {
	old := http10ExportLimit.Swap(n)
	return func() { http10ExportLimit.Store(old) }
}
