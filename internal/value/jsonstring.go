package value

import "unicode/utf8"

// AppendJSONString appends s as a JSON string that decodes to what
// encoding/json's encoding of s decodes to (invalid UTF-8 as U+FFFD;
// FuzzJSONString). It escapes only what JSON requires: a quote, a
// backslash and control characters (\n, \r, \t, the others as \u00XX),
// not encoding/json's <, >, &, U+2028 and U+2029, which no reader of the
// entries table needs. Every JSON string of an entry is written by it.
func AppendJSONString[T string | []byte](b []byte, s T) []byte {
	b, _ = appendJSONString(b, s, false)
	return b
}

// appendJSONString is AppendJSONString; strict, it stops at the first
// byte that is not UTF-8 and returns b as it was and false.
func appendJSONString[T string | []byte](b []byte, s T, strict bool) ([]byte, bool) {
	const hex = "0123456789abcdef"
	orig := len(b)
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(string(s[i:min(i+utf8.UTFMax, len(s))]))
		if r == utf8.RuneError && size == 1 {
			if strict {
				return b[:orig], false
			}
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i++
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"'), true
}
