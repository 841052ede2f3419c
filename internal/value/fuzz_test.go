package value_test

import (
	"encoding/json"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/go-auditlog/auditlog/internal/capture"
	"github.com/go-auditlog/auditlog/internal/value"
)

// FuzzNormalize: any text, as a string, bytes, JSON or decimal column,
// normalises without panicking to a value equal to itself whose JSON is
// valid.
func FuzzNormalize(f *testing.F) {
	for _, s := range []string{"", "44.00", "1e400", `{"b":1,"a":[1,2]}`, "null", "NaN", "\xff", `"quoted"`, "-0.0", "12345678901234567890"} {
		f.Add(s, true, false)
		f.Add(s, false, true)
	}
	f.Fuzz(func(t *testing.T, s string, isJSON, isDecimal bool) {
		opts := value.Options{JSON: isJSON, Decimal: isDecimal}
		for _, in := range []any{s, []byte(s), &s, json.RawMessage(s)} {
			v, err := value.Normalize(in, opts)
			if err != nil {
				continue // invalid raw JSON is refused, not recorded wrongly
			}
			if !v.Equal(v) {
				t.Fatalf("%q is not equal to itself", s)
			}
			raw, _ := v.MarshalJSON()
			if !json.Valid(raw) {
				t.Fatalf("%q encodes to invalid JSON %s", s, raw)
			}
		}
	})
}

// FuzzDistinctEncoding: two texts a column holds (SQLite keeps any bytes
// in a TEXT column, valid UTF-8 or not) are recorded alike exactly when
// they are equal, so that no entry shows two stored values as one, or a
// change as none.
func FuzzDistinctEncoding(f *testing.F) {
	for _, p := range [][2]string{{"caf\xc3", "caf\xff"}, {"a", "a"}, {"\xff", "\ufffd"}, {"", "\x00"}, {`{"$base64":"/w=="}`, "\xff"},
		{"\"caf\xc3\"", "\"caf\xff\""}, {`{"b":1,"a":2}`, `{"a":2, "b":1}`}, {`{"a":1,"a":2}`, `{"a":2}`},
		{`{"a":1,"a":2}`, `"{\"a\":1,\"a\":2}"`}, {`[{"k:\"":1,"k:\"":1}]`, `[{"k:\"":1}]`},
		{`{"a":"\ud800"}`, `{"a":"\ufffd"}`}, {`["\udc00\ud800"]`, `["\ufffd\ufffd"]`}, {`"\ud83d\ude00"`, `"😀"`}, {`"\\ud800"`, `"x"`}, {`{"a":1}}`, `{"a":1}`}, {`[1]]`, `[1]`},
		{`{"a":1,"a":2}`, `{"$json":"{\"a\":1,\"a\":2}"}`}, {`"{\"a\":1,\"a\":2}"`, `{"a":1,"a":2}`},
		{`{"$doc":{"$json":"x"}}`, `{"$json":"x"}`}, {`{"$doc": {"a": 1}}`, `{"a":1}`}, {`{"$bytes":2000000,"$digest":"sha256:` + strings.Repeat("0", 64) + `"}`, `{}`},
		{`{"$BASE64":"/w=="}`, "\xff"}, {`{"$JSON":"{\"a\":1,\"a\":2}"}`, `{"a":1,"a":2}`},
		{`{"$json":"{\"a\":1,\"a\":2}","$doc":1}`, `{"$doc":1,"$json":"{\"a\":1,\"a\":2}"}`}} {
		f.Add(p[0], p[1])
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		for _, opts := range []value.Options{{}, {JSON: true}} {
			va, err := value.Normalize(a, opts)
			if err != nil {
				t.Fatal(err)
			}
			vb, err := value.Normalize(b, opts)
			if err != nil {
				t.Fatal(err)
			}
			ja, jb := va.AppendJSON(nil), vb.AppendJSON(nil)
			if !json.Valid(ja) || !json.Valid(jb) {
				t.Fatalf("invalid JSON %s or %s", ja, jb)
			}
			same := string(ja) == string(jb)
			if !opts.JSON {
				if same != (a == b) || va.Equal(vb) != (a == b) {
					t.Fatalf("%q and %q: recorded as %s and %s, equal %v", a, b, ja, jb, va.Equal(vb))
				}
				continue
			}
			// A JSON column compares documents semantically. Text it
			// holds that is UTF-8 but no JSON is recorded as a JSON
			// string, which is also the form of the document that is that
			// string (README); every other value, a document shaped like
			// a tag ({"$json": …}, {"$base64": …}) too, has its own form.
			tag := false
			if same && !va.Equal(vb) && (!json.Valid([]byte(a)) && stringDocument(b) || !json.Valid([]byte(b)) && stringDocument(a)) {
				tag = true
			}
			if va.Equal(vb) && !same || same && !va.Equal(vb) && !tag {
				t.Fatalf("JSON %q and %q: recorded as %s and %s, equal %v", a, b, ja, jb, va.Equal(vb))
			}
			// Text that is not UTF-8 is no document: kept as its bytes.
			if a != b && (!utf8.ValidString(a) || !utf8.ValidString(b)) && (same && !tag || va.Equal(vb)) {
				t.Fatalf("JSON %q and %q: recorded alike as %s", a, b, ja)
			}
			// An object that repeats a key is no document either (SQLite
			// and MariaDB read its first value, Go's decoder its last): a
			// document that differs from it in text is another value.
			if a != b && (json.Valid([]byte(a)) && notDocument(a) || json.Valid([]byte(b)) && notDocument(b)) && (same && !tag || va.Equal(vb)) {
				t.Fatalf("JSON %q and %q, one no document every database reads alike: recorded alike as %s, equal %v", a, b, ja, va.Equal(vb))
			}
			// Text that is no JSON is never equal to a document.
			if a != b && json.Valid([]byte(a)) != json.Valid([]byte(b)) && va.Equal(vb) {
				t.Fatalf("JSON %q and %q, one not JSON: equal", a, b)
			}
			// A document is never read as a tag, and a document recorded
			// apart from a tag ({"$doc": d}) is d.
			for i, x := range []string{a, b} {
				j := [][]byte{ja, jb}[i]
				if !utf8.ValidString(x) || !json.Valid([]byte(x)) || notDocument(x) || strings.TrimSpace(x) == "null" {
					continue // the document null is recorded as its text too
				}
				if _, ok := value.DocumentText(j); ok {
					t.Fatalf("JSON %q, a document, recorded as %s, text", x, j)
				}
				if _, ok := value.Base64Text(j); ok {
					t.Fatalf("JSON %q, a document, recorded as %s, bytes", x, j)
				}
				if capture.IsDigest(j) {
					t.Fatalf("JSON %q, a document, recorded as %s, a digest", x, j)
				}
				if d, ok := value.EscapedDocument(j); ok && !sameDocument(d, []byte(x)) {
					t.Fatalf("JSON %q recorded as %s, which reads as %s", x, j, d)
				}
			}
			// A document that repeats no key is recorded as the document.
			if json.Valid([]byte(a)) && !notDocument(a) && !stringDocument(a) && strings.TrimSpace(a) != "null" && ja[0] == '"' {
				t.Fatalf("JSON %q, a document, recorded as the text %s", a, ja)
			}
		}
	})
}

// notDocument reports whether s, held in a JSON column, is no JSON
// document every database reads alike (empty, not JSON, or an object that
// repeats a key).
func notDocument(s string) bool {
	if !json.Valid([]byte(s)) {
		return true
	}
	return repeatsAKey(s) || loneSurrogate(s) || nulEscape(s)
}

// nulEscape reports whether s, valid JSON, holds the escape \u0000, which
// PostgreSQL's jsonb refuses: such text is recorded as text.
func nulEscape(s string) bool {
	// Backslash pairs first, so that \\u0000 is no escape.
	return strings.Contains(strings.ReplaceAll(s, `\\`, ""), `\u0000`)
}

// loneSurrogate reports whether s, valid JSON, holds a \u escape of a
// surrogate that is not a high one followed by a low one: written apart
// from the code under test, by a regular expression over the escapes.
func loneSurrogate(s string) bool {
	// Backslash pairs first, so that \\ud800 is no escape.
	s = strings.ReplaceAll(s, `\\`, "")
	for _, m := range surrogateEscape.FindAllStringSubmatchIndex(s, -1) {
		hi := strings.ContainsAny(s[m[2]:m[3]], "89abAB")
		next := s[m[1]:]
		if !hi || len(next) < 6 || !lowEscape.MatchString(next[:6]) {
			return true
		}
	}
	for _, m := range lowEscapeAnywhere.FindAllStringIndex(s, -1) {
		before := s[:m[0]]
		if len(before) < 6 || !highEscape.MatchString(before[len(before)-6:]) {
			return true
		}
	}
	return false
}

var (
	surrogateEscape   = regexp.MustCompile(`\\u[dD]([89abAB])[0-9a-fA-F]{2}`)
	lowEscape         = regexp.MustCompile(`^\\u[dD][c-fC-F][0-9a-fA-F]{2}$`)
	highEscape        = regexp.MustCompile(`^\\u[dD][89abAB][0-9a-fA-F]{2}$`)
	lowEscapeAnywhere = regexp.MustCompile(`\\u[dD][c-fC-F][0-9a-fA-F]{2}`)
)

// repeatsAKey reports whether s, valid JSON, has an object that repeats a
// key: read token by token, apart from the code under test.
func repeatsAKey(s string) bool {
	dec := json.NewDecoder(strings.NewReader(s))
	type level struct {
		keys   map[string]bool
		object bool
		key    bool // the next string token is a key
	}
	var stack []*level
	for {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		var top *level
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if k, ok := tok.(string); ok && top != nil && top.object && top.key {
			if top.keys[k] {
				return true
			}
			top.keys[k] = true
			top.key = false
			continue
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, &level{keys: map[string]bool{}, object: true, key: true})
			continue
		case json.Delim('['):
			stack = append(stack, &level{})
			continue
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
		}
		if len(stack) > 0 && stack[len(stack)-1].object {
			stack[len(stack)-1].key = true // a value ended
		}
	}
}

// stringDocument reports whether s is a JSON document that is a string.
func stringDocument(s string) bool {
	var v any
	if json.Unmarshal([]byte(s), &v) != nil {
		return false
	}
	_, ok := v.(string)
	return ok
}

// sameDocument reports whether a and b, JSON, decode to the same value.
func sameDocument(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}
