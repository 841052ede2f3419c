package pgdsn

import (
	"errors"
	"strings"
)

// Setting is one keyword=value pair of a keyword/value DSN.
type Setting struct {
	Key, Value string
}

// IsKeywordForm reports whether dsn is written in PostgreSQL's keyword/value
// form ("host=db user=app password=…"): it starts with a keyword made of
// letters, digits and underscores, then "=" (spaces around it allowed).
func IsKeywordForm(dsn string) bool {
	s := strings.TrimLeft(dsn, " \t\n\r\f\v")
	i := 0
	for i < len(s) && (s[i] == '_' || s[i] >= 'a' && s[i] <= 'z' || s[i] >= 'A' && s[i] <= 'Z' || i > 0 && s[i] >= '0' && s[i] <= '9') {
		i++
	}
	if i == 0 {
		return false
	}
	return strings.HasPrefix(strings.TrimLeft(s[i:], " \t\n\r\f\v"), "=")
}

// ErrKeywordSyntax is returned for a keyword/value DSN that libpq would not
// read. It never quotes the DSN, which may hold a password.
var ErrKeywordSyntax = errors.New("keyword/value DSN: every setting must be keyword=value, and a quoted value must end with a quote")

// ParseKeywords reads a keyword/value DSN as libpq does: settings separated
// by whitespace, spaces allowed around "=", values either single-quoted
// (with \' and \\ escapes) or running to the next whitespace (backslash
// escapes the next character).
func ParseKeywords(dsn string) ([]Setting, error) {
	var out []Setting
	s := dsn
	space := func(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v' }
	skip := func() {
		for len(s) > 0 && space(s[0]) {
			s = s[1:]
		}
	}
	for {
		skip()
		if s == "" {
			return out, nil
		}
		i := 0
		for i < len(s) && s[i] != '=' && !space(s[i]) {
			i++
		}
		key := s[:i]
		s = s[i:]
		skip()
		if key == "" || !strings.HasPrefix(s, "=") {
			return nil, ErrKeywordSyntax
		}
		s = s[1:]
		skip()
		var v strings.Builder
		if strings.HasPrefix(s, "'") {
			s = s[1:]
			closed := false
			for len(s) > 0 {
				c := s[0]
				s = s[1:]
				if c == '\\' && len(s) > 0 {
					v.WriteByte(s[0])
					s = s[1:]
					continue
				}
				if c == '\'' {
					closed = true
					break
				}
				v.WriteByte(c)
			}
			if !closed {
				return nil, ErrKeywordSyntax
			}
		} else {
			for len(s) > 0 && !space(s[0]) {
				c := s[0]
				s = s[1:]
				if c == '\\' && len(s) > 0 {
					c = s[0]
					s = s[1:]
				}
				v.WriteByte(c)
			}
		}
		out = append(out, Setting{key, v.String()})
	}
}

// FormatKeywords writes settings back as a keyword/value DSN, quoting the
// values that need it.
func FormatKeywords(settings []Setting) string {
	parts := make([]string, len(settings))
	for i, st := range settings {
		v := st.Value
		if v == "" || strings.ContainsAny(v, " \t\n\r\f\v'\\") {
			v = "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(v) + "'"
		}
		parts[i] = st.Key + "=" + v
	}
	return strings.Join(parts, " ")
}

// IsSecretKey reports whether a DSN setting or URL parameter holds a secret:
// password, sslpassword (libpq), passwd, pass, pwd, or a name ending in
// _password.
func IsSecretKey(key string) bool {
	switch k := strings.ToLower(key); k {
	case "password", "sslpassword", "passwd", "pass", "pwd":
		return true
	default:
		return strings.HasSuffix(k, "_password")
	}
}

// RedactKeywords returns settings with every secret value replaced by
// "xxxxx".
func RedactKeywords(settings []Setting) []Setting {
	out := make([]Setting, len(settings))
	for i, st := range settings {
		if IsSecretKey(st.Key) && st.Value != "" {
			st.Value = "xxxxx"
		}
		out[i] = st
	}
	return out
}
