package auditcli

import (
	"bytes"
	"testing"
)

// termWriter escapes the same however the stream is cut into writes, also
// in the middle of a multi-byte rune.
func TestTermWriterSplitRunes(t *testing.T) {
	t.Parallel()
	in := []byte("é\u009b31m\u202eτ€😀\x1b[0m\n\tok\xe2\x82")
	var whole bytes.Buffer
	w := &termWriter{w: &whole}
	if _, err := w.Write(in); err != nil || w.Flush() != nil {
		t.Fatal(err)
	}
	want := `é\u009b31m\u202eτ€😀\u001b[0m` + "\n\tok" + `\xe2\x82`
	if whole.String() != want {
		t.Fatalf("got %q, want %q", whole.String(), want)
	}
	var bytewise bytes.Buffer
	w = &termWriter{w: &bytewise}
	for i := range in {
		if _, err := w.Write(in[i : i+1]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil || bytewise.String() != want {
		t.Fatalf("byte by byte: %q, %v", bytewise.String(), err)
	}
}
