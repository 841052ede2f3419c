package value

import (
	"encoding/json"
	"testing"
)

// AppendJSONString writes what encoding/json reads back as the string
// encoding/json itself would write, for any bytes (invalid UTF-8 as
// U+FFFD), and the same for a string and a byte slice.
func FuzzJSONString(f *testing.F) {
	for _, s := range []string{"", "plain", `"quoted" \ back`, "tab\there\nnew\rret", "\x00\x01\x1f\x7f", "<b>&amp;</b>",
		"é ✓ 😀", "\xff\xfe", "a\xc3", "\xed\xa0\x80", "\u2028\u2029", "\xf0\x9f\x98"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		std, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		var want string
		if err := json.Unmarshal(std, &want); err != nil {
			t.Fatal(err)
		}
		for _, enc := range [][]byte{AppendJSONString([]byte("x"), s)[1:], AppendJSONString([]byte("x"), []byte(s))[1:]} {
			var got string
			if err := json.Unmarshal(enc, &got); err != nil {
				t.Fatalf("%q encoded as %s: %v", s, enc, err)
			}
			if got != want {
				t.Fatalf("%q encoded as %s reads back as %q, want %q", s, enc, got, want)
			}
		}
	})
}
