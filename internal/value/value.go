// Package value normalises the values of audited columns: what a Go value
// or a driver value means, compared and encoded the same way whatever its
// source, so that re-saving an unchanged row changes nothing.
package value

import (
	"bytes"
	"database/sql/driver"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Options tell Normalize how a column stores a value. The zero value means:
// times kept whole, no JSON or decimal column.
type Options struct {
	// TimeUnit is the precision the column keeps times at (time.Second for
	// MySQL's DATETIME, time.Microsecond for PostgreSQL's timestamp): times
	// are truncated to it. Zero keeps them as they are.
	TimeUnit time.Duration
	// JSON marks a JSON column: strings and bytes holding JSON compare
	// semantically (key order and spacing do not matter).
	JSON bool
	// Decimal marks a DECIMAL/NUMERIC column: numeric strings compare by
	// value ("44.00" equals "44.0") and keep their exact text.
	Decimal bool
	// KeepOffset marks a column that stores a time with its offset from
	// UTC (SQLite's text): a time keeps it, and one instant at two
	// offsets is two values, as two rows of such a key are two rows.
	KeepOffset bool
	// Padded marks a key column of a type PostgreSQL pads with spaces
	// and compares without them (char(n)): text keeps no trailing spaces,
	// so that the key "ab" the application gives is the one it reads back.
	Padded bool
	// Lower marks a key column of PostgreSQL's uuid type, which it returns
	// in lower case whatever case it was given: text is lowered, so that a
	// key the application gives in upper case is the one it reads back.
	Lower bool
}

type valueKind uint8

const (
	kindNull valueKind = iota
	kindBool
	kindInt
	kindUint
	kindFloat
	kindString
	kindDecimal
	kindTime
	kindJSON
	kindBytes
	// kindJSONText: a JSON column's text that is valid JSON but no one
	// document (DocumentText), recorded as {"$json": "text"}.
	kindJSONText
)

// Value is a normalised field value: comparable with Equal and encodable as
// typed JSON. Build one with Normalize.
type Value struct {
	kind valueKind
	b    bool
	i    int64
	u    uint64
	f    float64
	s    string // string, decimal text, canonical JSON, or raw bytes
	t    time.Time
}

// Null is the absent value.
var Null = Value{}

// IsNull reports whether v is null.
func (v Value) IsNull() bool { return v.kind == kindNull }

// Normalize turns a Go value from a model field into a Value: nil and nil
// pointers become null, pointers are dereferenced, driver.Valuer types go
// through Value (a decimal type's text, a UUID's string), times become UTC
// instants at the column's precision, JSON columns are parsed, and structs,
// maps and slices without a Valuer are encoded as JSON.
func Normalize(x any, opts Options) (Value, error) {
	for depth := 0; depth < 8; depth++ {
		switch t := x.(type) {
		case nil:
			return Null, nil
		case time.Time:
			return timeValue(t, opts), nil
		case json.RawMessage:
			if len(t) == 0 {
				return Null, nil
			}
			v, err := jsonValue(t)
			if errors.Is(err, errNoOneDocument) {
				return Value{kind: kindJSONText, s: string(t)}, nil
			}
			return v, err
		case driver.Valuer:
			rv := reflect.ValueOf(t)
			if rv.Kind() == reflect.Pointer && rv.IsNil() {
				return Null, nil
			}
			dv, err := t.Value()
			if err != nil {
				return Null, fmt.Errorf("auditlog: value of %T: %w", x, err)
			}
			x = dv
			continue
		case string:
			return stringValue(t, opts), nil
		case []byte:
			if t == nil {
				return Null, nil
			}
			if opts.JSON {
				v, err := jsonValue(t)
				switch {
				case err == nil:
					return v, nil
				case errors.Is(err, errNoOneDocument):
					// Its text: no document is every database's reading
					// of it.
					return Value{kind: kindJSONText, s: string(t)}, nil
				}
			}
			if opts.Decimal {
				return stringValue(string(t), opts), nil
			}
			return Value{kind: kindBytes, s: string(t)}, nil
		case bool:
			return Value{kind: kindBool, b: t}, nil
		case int64:
			return Value{kind: kindInt, i: t}, nil
		case int:
			return Value{kind: kindInt, i: int64(t)}, nil
		case float64:
			return floatValue(t), nil
		}
		rv := reflect.ValueOf(x)
		switch rv.Kind() {
		case reflect.Pointer, reflect.Interface:
			if rv.IsNil() {
				return Null, nil
			}
			x = rv.Elem().Interface()
			continue
		case reflect.Bool:
			return Value{kind: kindBool, b: rv.Bool()}, nil
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
			return Value{kind: kindInt, i: rv.Int()}, nil
		case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
			u := rv.Uint()
			if u <= math.MaxInt64 {
				return Value{kind: kindInt, i: int64(u)}, nil
			}
			return Value{kind: kindUint, u: u}, nil
		case reflect.Float32, reflect.Float64:
			return floatValue(rv.Float()), nil
		case reflect.String:
			return stringValue(rv.String(), opts), nil
		case reflect.Slice:
			if rv.IsNil() {
				return Null, nil
			}
			if rv.Type().Elem().Kind() == reflect.Uint8 {
				x = rv.Bytes()
				continue
			}
		case reflect.Map:
			if rv.IsNil() {
				return Null, nil
			}
		case reflect.Func, reflect.Chan, reflect.UnsafePointer, reflect.Complex64, reflect.Complex128:
			return Null, fmt.Errorf("auditlog: cannot record a value of type %T", x)
		}
		raw, err := json.Marshal(x)
		if err != nil {
			return Null, fmt.Errorf("auditlog: encode %T as JSON: %w", x, err)
		}
		return jsonValue(raw)
	}
	return Null, fmt.Errorf("auditlog: value of type %T nests too deeply", x)
}

func floatValue(f float64) Value {
	if math.IsNaN(f) || math.IsInf(f, 0) || (f == 0 && math.Signbit(f)) {
		// JSON has no NaN or infinity; keep them as text. Negative zero
		// is a number in JSON, but PostgreSQL's jsonb reads -0 as 0, and
		// as a number it equals 0: a float8 column that held 0 and then
		// -0 would show no change. It is text too.
		return Value{kind: kindString, s: strconv.FormatFloat(f, 'g', -1, 64)}
	}
	return Value{kind: kindFloat, f: f}
}

func timeValue(t time.Time, opts Options) Value {
	_, offset := t.Zone()
	t = t.UTC().Round(0) // drop the monotonic reading
	if opts.TimeUnit > 1 {
		t = t.Truncate(opts.TimeUnit)
	}
	if opts.KeepOffset && offset != 0 {
		t = t.In(time.FixedZone("", offset))
	}
	return Value{kind: kindTime, t: t}
}

// offsetOf is a time's offset from UTC, in seconds.
func offsetOf(t time.Time) int {
	_, offset := t.Zone()
	return offset
}

func stringValue(s string, opts Options) Value {
	if opts.Padded {
		s = strings.TrimRight(s, " ")
	}
	if opts.Lower {
		s = strings.ToLower(s)
	}
	if opts.JSON {
		v, err := jsonValue([]byte(s))
		switch {
		case err == nil:
			return v
		case errors.Is(err, errNoOneDocument):
			return Value{kind: kindJSONText, s: s}
		}
	}
	if opts.Decimal {
		if _, ok := new(big.Rat).SetString(strings.TrimSpace(s)); ok {
			return Value{kind: kindDecimal, s: strings.TrimSpace(s)}
		}
	}
	return Value{kind: kindString, s: s}
}

// errNoOneDocument is jsonValue's error for valid JSON that the databases
// do not all read alike, which is recorded as its text: an object that
// repeats a key, a string with a lone surrogate escape.
var errNoOneDocument = errors.New("auditlog: JSON that no one document is")

// jsonValue parses raw JSON and keeps a canonical form: keys sorted, no
// insignificant space, numbers as PostgreSQL's numeric prints them.
func jsonValue(raw []byte) (Value, error) {
	if !utf8.Valid(raw) {
		// Go's decoder would read each invalid byte as U+FFFD, and two
		// stored documents as one: such text is recorded as its bytes.
		return Null, errors.New("auditlog: invalid JSON: not UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return Null, fmt.Errorf("auditlog: invalid JSON: %w", err)
	}
	// Only space may follow (dec.More is false before a stray } or ]).
	if len(bytes.TrimLeft(raw[dec.InputOffset():], " \t\r\n")) > 0 {
		return Null, fmt.Errorf("auditlog: invalid JSON: trailing data")
	}
	if v == nil {
		// The document null, which a column holds apart from SQL NULL:
		// recorded as its text ({"$json": "null"}), since an entry's null
		// is SQL NULL.
		return Value{kind: kindJSONText, s: "null"}, nil
	}
	if n, odd := scanJSON(raw); odd || n != decodedMembers(v) {
		// Go's decoder keeps the last of a repeated key, SQLite and
		// MariaDB read the first, PostgreSQL's jsonb keeps the last; Go
		// reads a lone surrogate escape as U+FFFD, SQLite as its own
		// bytes; PostgreSQL's jsonb (the entries' changes) refuses the
		// escape \u0000, which its json and the other databases keep: no
		// canonical form is every database's document. Such text is
		// recorded as it is.
		return Null, fmt.Errorf("%w: an object repeats a key, or a string holds a lone surrogate or a NUL", errNoOneDocument)
	}
	// Numbers as PostgreSQL's jsonb stores them (numericText): one
	// document reads the same from every database's entries, and 1 and 1e0
	// are one number. A number jsonb cannot hold is, like the escape
	// \u0000, no document of every database's; so are numbers whose text
	// written out grows past the document's length and numberGrowth.
	budget := len(raw) + numberGrowth
	v, ok := numericNumbers(v, &budget)
	if !ok {
		return Null, fmt.Errorf("%w: a number out of the range PostgreSQL's jsonb holds, or numbers that written out grow past the document's size", errNoOneDocument)
	}
	canon, err := json.Marshal(v)
	if err != nil {
		return Null, err
	}
	return Value{kind: kindJSON, s: string(canon)}, nil
}

// DocumentText returns the text that raw, a recorded value, stands for
// when it is {"$json": "text"}: text that a JSON column held which is JSON
// but no one document (an object that repeats a key, a lone surrogate
// escape, the escape \u0000) or the document null, as Normalize records
// it. Only an object of that one key whose
// text is such JSON is one: the document {"$json": "abc"} is itself.
func DocumentText(raw []byte) (string, bool) {
	if len(raw) == 0 || raw[0] != '{' || !bytes.Contains(raw, []byte(`"$json"`)) {
		return "", false
	}
	var keys map[string]json.RawMessage
	var t struct {
		Text string `json:"$json"`
	}
	if json.Unmarshal(raw, &keys) != nil || len(keys) != 1 || keys["$json"] == nil || json.Unmarshal(raw, &t) != nil {
		return "", false
	}
	if v, err := jsonValue([]byte(t.Text)); !errors.Is(err, errNoOneDocument) && (err != nil || v.kind != kindJSONText) {
		return "", false
	}
	return t.Text, true
}

// scanJSON reads raw, valid JSON, in one pass: the members of its objects
// (the colons outside its strings), and whether a string holds a lone
// surrogate escape (\ud800 without a low one after it, \udc00 without a
// high one before) or the escape \u0000.
func scanJSON(raw []byte) (members int, lone bool) {
	for i := 0; i < len(raw); i++ {
		switch raw[i] {
		case ':':
			members++
		case '"':
			high := false // the escape before was a high surrogate
			for i++; i < len(raw) && raw[i] != '"'; i++ {
				if raw[i] != '\\' {
					lone = lone || high
					high = false
					continue
				}
				i++
				if i >= len(raw) || raw[i] != 'u' || i+4 >= len(raw) {
					lone = lone || high
					high = false
					continue
				}
				r, err := strconv.ParseUint(string(raw[i+1:i+5]), 16, 16)
				i += 4
				switch {
				case err != nil:
				case r == 0:
					lone = true
				case r >= 0xD800 && r < 0xDC00:
					lone = lone || high
					high = true
					continue
				case r >= 0xDC00 && r < 0xE000:
					lone = lone || !high
					high = false
					continue
				}
				lone = lone || high
				high = false
			}
			lone = lone || high
		}
	}
	return members, lone
}

// decodedMembers counts the members of every object in v, as decoded:
// fewer than in its text where an object repeated a key.
func decodedMembers(v any) int {
	n := 0
	switch v := v.(type) {
	case map[string]any:
		n += len(v)
		for _, x := range v {
			n += decodedMembers(x)
		}
	case []any:
		for _, x := range v {
			n += decodedMembers(x)
		}
	}
	return n
}

// Equal reports whether a and b are the same value after normalisation:
// times as instants, decimals and numbers by value, JSON semantically.
func (v Value) Equal(w Value) bool {
	if v.kind == w.kind {
		switch v.kind {
		case kindNull:
			return true
		case kindBool:
			return v.b == w.b
		case kindInt:
			return v.i == w.i
		case kindUint:
			return v.u == w.u
		case kindFloat:
			return v.f == w.f
		case kindTime:
			return v.t.Equal(w.t) && offsetOf(v.t) == offsetOf(w.t)
		case kindDecimal:
			return ratEqual(v.s, w.s)
		default:
			return v.s == w.s
		}
	}
	if v.isNumber() && w.isNumber() {
		return ratEqual(v.numberText(), w.numberText())
	}
	return false
}

func (v Value) isNumber() bool {
	switch v.kind {
	case kindInt, kindUint, kindFloat, kindDecimal:
		return true
	case kindJSON:
		return len(v.s) > 0 && (v.s[0] == '-' || (v.s[0] >= '0' && v.s[0] <= '9'))
	}
	return false
}

func (v Value) numberText() string {
	switch v.kind {
	case kindInt:
		return strconv.FormatInt(v.i, 10)
	case kindUint:
		return strconv.FormatUint(v.u, 10)
	case kindFloat:
		return strconv.FormatFloat(v.f, 'g', -1, 64)
	}
	return v.s
}

func ratEqual(a, b string) bool {
	if a == b {
		return true
	}
	ra, ok1 := new(big.Rat).SetString(a)
	rb, ok2 := new(big.Rat).SetString(b)
	return ok1 && ok2 && ra.Cmp(rb) == 0
}

// MarshalJSON encodes v as typed JSON: numbers stay numbers, null is null,
// times are RFC 3339 UTC strings, decimals keep their exact text as a
// string, bytes are base64, and text that is not UTF-8 is
// {"$base64": "…"}, its bytes in base64 (Base64Text).
func (v Value) MarshalJSON() ([]byte, error) {
	return v.AppendJSON(nil), nil
}

// AppendJSON appends v's JSON form to b.
func (v Value) AppendJSON(b []byte) []byte {
	switch v.kind {
	case kindNull:
		return append(b, "null"...)
	case kindBool:
		return strconv.AppendBool(b, v.b)
	case kindInt:
		return strconv.AppendInt(b, v.i, 10)
	case kindUint:
		return strconv.AppendUint(b, v.u, 10)
	case kindFloat:
		return strconv.AppendFloat(b, v.f, 'g', -1, 64)
	case kindTime:
		b = append(b, '"')
		b = v.t.AppendFormat(b, time.RFC3339Nano)
		return append(b, '"')
	case kindJSON:
		if tagShaped(v.s) {
			// A document that reads as a tag stands apart from it.
			b = append(b, `{"$doc":`...)
			b = append(b, v.s...)
			return append(b, '}')
		}
		return append(b, v.s...)
	case kindJSONText:
		b = append(b, `{"$json":`...)
		b = AppendJSONString(b, v.s)
		return append(b, '}')
	case kindBytes:
		b = append(b, '"')
		b = base64.StdEncoding.AppendEncode(b, []byte(v.s))
		return append(b, '"')
	case kindString:
		// Text that is not UTF-8 (SQLite keeps any bytes in a TEXT column)
		// has no JSON string of its own: as one, its invalid bytes would
		// read as U+FFFD, and two stored values as one. One pass over
		// text that is.
		if out, ok := appendJSONString(b, v.s, true); ok {
			return out
		}
		b = append(b, `{"$base64":"`...)
		b = base64.StdEncoding.AppendEncode(b, []byte(v.s))
		return append(b, `"}`...)
	}
	return AppendJSONString(b, v.s)
}

// tagKeys are the keys of the objects that stand for something else than
// themselves in an entry: {"$json": …} (text that is no one document),
// {"$base64": …} (text that is not UTF-8), {"$digest": …, "$bytes": n} (a
// value too large), and {"$doc": …} (a document of one of these forms).
var tagKeys = [...]string{"$base64", "$bytes", "$digest", "$doc", "$json"}

// tagShaped reports whether canon, a canonical JSON document (keys sorted,
// no space), is an object whose keys are all tag keys: such a document is
// recorded as {"$doc": document}, so that no real document reads as a tag.
// Sorted, its first key then starts with "$": that tells most documents
// apart without parsing them.
func tagShaped(canon string) bool {
	if !strings.HasPrefix(canon, `{"$`) {
		return false
	}
	var keys map[string]json.RawMessage
	if json.Unmarshal([]byte(canon), &keys) != nil {
		return false
	}
	for k := range keys {
		if !slices.Contains(tagKeys[:], k) {
			return false
		}
	}
	return true
}

// TagShaped reports whether raw, JSON, is a document whose keys are all
// tag keys: one that entries record as {"$doc": document}. An entry
// recorded before such documents were (one that is no tag: DocumentText,
// Base64Text, EscapedDocument and the digest's reader all say no) holds
// the document itself.
func TagShaped(raw []byte) bool {
	t := bytes.TrimLeft(raw, " \t\r\n")
	if len(t) == 0 || t[0] != '{' || !bytes.Contains(t, []byte(`"$`)) {
		return false
	}
	v, err := jsonValue(raw)
	return err == nil && v.kind == kindJSON && tagShaped(v.s)
}

// EscapedDocument returns the document that raw, a recorded value, stands
// for when it is {"$doc": document}: a JSON column's document whose keys
// are all tag keys ({"$json": …}, {"$base64": …}, a digest's, or "$doc"),
// which is recorded so, apart from the tag it looks like.
func EscapedDocument(raw []byte) ([]byte, bool) {
	if len(raw) == 0 || raw[0] != '{' || !bytes.Contains(raw, []byte(`"$doc"`)) {
		return nil, false
	}
	var keys map[string]json.RawMessage
	if json.Unmarshal(raw, &keys) != nil || len(keys) != 1 || keys["$doc"] == nil {
		return nil, false
	}
	return keys["$doc"], true
}

// Base64Text returns the text that raw, a value recorded as
// {"$base64": "…"} (text that is not UTF-8), stands for, and whether it is
// one.
func Base64Text(raw []byte) (string, bool) {
	if len(raw) == 0 || raw[0] != '{' || !bytes.Contains(raw, []byte(`"$base64"`)) {
		return "", false
	}
	var keys map[string]json.RawMessage
	var t struct {
		Text string `json:"$base64"`
	}
	// The key exactly: a struct's field would take "$BASE64" too.
	if json.Unmarshal(raw, &keys) != nil || len(keys) != 1 || keys["$base64"] == nil || json.Unmarshal(raw, &t) != nil {
		return "", false
	}
	d, err := base64.StdEncoding.DecodeString(t.Text)
	if err != nil || utf8.Valid(d) {
		return "", false
	}
	return string(d), true
}

// Text is v as plain text, used for primary keys and masking: a string as
// itself, a number in decimal, a time in RFC 3339, null as "".
func (v Value) Text() string {
	switch v.kind {
	case kindNull:
		return ""
	case kindString, kindDecimal, kindJSON, kindJSONText:
		return v.s
	case kindBytes:
		return base64.StdEncoding.EncodeToString([]byte(v.s))
	case kindTime:
		return v.t.Format(time.RFC3339Nano)
	case kindBool:
		return strconv.FormatBool(v.b)
	}
	return v.numberText()
}

// Int64 returns v as an int64 when it is an integer.
func (v Value) Int64() (int64, bool) {
	if v.kind == kindInt {
		return v.i, true
	}
	return 0, false
}

// StringValue returns a Value holding the string s, used for masked values.
func StringValue(s string) Value { return Value{kind: kindString, s: s} }
