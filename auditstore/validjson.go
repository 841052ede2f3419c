package auditstore

import "encoding/json"

// validJSON reports whether v is one valid JSON value, as json.Valid does.
// The values of changes are mostly numbers, plain strings and literals,
// which it accepts in one pass; anything else goes to json.Valid.
func validJSON(v []byte) bool {
	return simpleJSON(v) || json.Valid(v)
}

// simpleJSON reports whether v is a number, a literal or a string without
// escapes or control characters, with no space around it. encoding/json
// accepts any other bytes in a string, invalid UTF-8 included.
func simpleJSON(v []byte) bool {
	if len(v) == 0 {
		return false
	}
	switch c := v[0]; {
	case c == '"':
		if len(v) < 2 || v[len(v)-1] != '"' {
			return false
		}
		for _, b := range v[1 : len(v)-1] {
			if b < 0x20 || b == '"' || b == '\\' {
				return false
			}
		}
		return true
	case c == '-' || c >= '0' && c <= '9':
		return validNumber(v)
	}
	switch string(v) {
	case "null", "true", "false":
		return true
	}
	return false
}

// validNumber reports whether v is exactly a JSON number:
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func validNumber(v []byte) bool {
	i := 0
	if v[i] == '-' {
		i++
	}
	digits := func() int {
		n := 0
		for i < len(v) && v[i] >= '0' && v[i] <= '9' {
			i++
			n++
		}
		return n
	}
	switch {
	case i < len(v) && v[i] == '0':
		i++
	case digits() == 0:
		return false
	}
	if i < len(v) && v[i] == '.' {
		i++
		if digits() == 0 {
			return false
		}
	}
	if i < len(v) && (v[i] == 'e' || v[i] == 'E') {
		i++
		if i < len(v) && (v[i] == '+' || v[i] == '-') {
			i++
		}
		if digits() == 0 {
			return false
		}
	}
	return i == len(v)
}
