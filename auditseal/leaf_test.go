package auditseal

import (
	"encoding/json"
	"testing"
)

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

// A string escape of a lone UTF-16 surrogate (\ud800, \udc00) decodes to
// U+FFFD, so stored values that differ ({"t":"\ud800"}, {"t":"\udbff"},
// {"t":"\ufffd"}) gave one leaf: an entry rewritten from one to another
// verified. Such a value seals as its stored bytes; a valid pair still
// seals as the character it encodes.
func TestLeafOfLoneSurrogates(t *testing.T) {
	distinct := []string{`{"t":"\ud800"}`, `{"t":"\udbff"}`, `{"t":"\ufffd"}`, `{"t":"\udc00x"}`, `{"t":"\ud800\ud800"}`, `["\\ud800"]`, `["\\\ud800"]`}
	seen := map[string]string{}
	for _, in := range distinct {
		leaf, err := json.Marshal(jsonColumn([]byte(in)))
		if err != nil {
			t.Fatal(err)
		}
		if other, ok := seen[string(leaf)]; ok {
			t.Errorf("%s and %s seal alike: %s", in, other, leaf)
		}
		seen[string(leaf)] = in
	}
	for _, pair := range [][2]string{{`{"t":"\ud83d\ude00x"}`, `{"t":"😀x"}`}, {`{"t":"\u00e9"}`, `{"t":"é"}`}, {`["\\ud800"]`, `["\\ud800"]`}} {
		a, _ := json.Marshal(jsonColumn([]byte(pair[0])))
		b, _ := json.Marshal(jsonColumn([]byte(pair[1])))
		if string(a) != string(b) {
			t.Errorf("%s and %s, the same value, seal apart: %s, %s", pair[0], pair[1], a, b)
		}
	}
}
