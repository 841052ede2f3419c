package auditseal

import "testing"

// TestDuplicateKeys finds a key twice in any object, at any depth.
func TestDuplicateKeys(t *testing.T) {
	for in, want := range map[string]bool{
		`{"a":1,"b":{"a":2,"c":[{"a":1},{"a":2}]},"d":3}`: false,
		`{"a":1,"a":2}`:                      true,
		`{"a":{"x":1},"a":2}`:                true,
		`{"a":{"x":1,"x":2}}`:                true,
		`[{"a":1},{"a":1}]`:                  false,
		`{"a":{},"b":[],"c":{"d":{}},"e":1}`: false,
		`{"a":{},"a":1}`:                     true,
		`"x"`:                                false, `1`: false, `null`: false,
	} {
		if got := duplicateKeys([]byte(in)); got != want {
			t.Errorf("%s: %v", in, got)
		}
	}
}
