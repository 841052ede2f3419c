package auditcli

import (
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	mysqldrv "github.com/go-sql-driver/mysql"

	"github.com/go-auditlog/auditlog/internal/pgdsn"
)

// redactor knows the secrets (passwords from the arguments, credentials
// read by serve) that must never be shown, and replaces them with xxxxx.
// Stderr applies it to each Write: every message is written in one call.
type redactor struct {
	mu      sync.Mutex
	secrets []string // longest first
}

func newRedactor(secrets []string) *redactor {
	r := &redactor{}
	for _, s := range secrets {
		r.add(s)
	}
	return r
}

// add registers a secret, also in the forms messages may show it in:
// percent-escaped (URLs) and Go-quoted (%q).
func (r *redactor) add(secret string) {
	if r == nil || secret == "" {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	q := strconv.Quote(secret)
	for _, s := range []string{secret, url.QueryEscape(secret), url.PathEscape(secret), q[1 : len(q)-1]} {
		if s != "" && !slices.Contains(r.secrets, s) {
			r.secrets = append(r.secrets, s)
		}
	}
	slices.SortFunc(r.secrets, func(a, b string) int { return len(b) - len(a) })
}

func (r *redactor) redact(s string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, secret := range r.secrets {
		if len(secret) >= minInnerSecret {
			s = strings.ReplaceAll(s, secret, "xxxxx")
		} else {
			s = replaceWord(s, secret, "xxxxx")
		}
	}
	return s
}

// minInnerSecret is the length from which a secret is hidden wherever it
// occurs, also inside other words. A shorter one (a one-letter password)
// is hidden only where it is not part of a longer word, so that the
// letters of every message are not replaced.
const minInnerSecret = 8

// replaceWord replaces each occurrence of old in s that does not continue
// a word: where old begins with a letter or digit, the character before it
// is none, and likewise where it ends.
func replaceWord(s, old, new string) string {
	first, _ := utf8.DecodeRuneInString(old)
	last, _ := utf8.DecodeLastRuneInString(old)
	var b strings.Builder
	for i := 0; ; {
		j := strings.Index(s[i:], old)
		if j < 0 {
			b.WriteString(s[i:])
			return b.String()
		}
		j += i
		end := j + len(old)
		before, _ := utf8.DecodeLastRuneInString(s[:j])
		after, _ := utf8.DecodeRuneInString(s[end:])
		if (j > 0 && isWord(first) && isWord(before)) || (end < len(s) && isWord(last) && isWord(after)) {
			b.WriteString(s[i : j+1])
			i = j + 1
			continue
		}
		b.WriteString(s[i:j])
		b.WriteString(new)
		i = end
	}
}

func isWord(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) || r == '_' }

// secretPattern finds password settings in a keyword/value DSN or a URL
// query (see pgdsn.IsSecretKey): password=…, sslpassword='…', passwd=… .
var secretPattern = regexp.MustCompile(`(?i)(?:^|[\s?&;])(?:[a-z0-9_]*_password|password|sslpassword|passwd|pass|pwd)\s*=\s*`)

// secretsIn returns every password written in args: in DSNs of any form
// (URL userinfo and parameters, keyword/value settings, the MySQL driver's
// user:pass@tcp(…)), whether or not they parse, and in --basic-auth.
func secretsIn(args []string) []string {
	var out []string
	add := func(s string) {
		if s == "" {
			return
		}
		out = append(out, s)
		if u, err := url.PathUnescape(s); err == nil && u != s {
			out = append(out, u)
		}
		if u, err := url.QueryUnescape(s); err == nil && u != s {
			out = append(out, u)
		}
	}
	for i, arg := range args {
		candidates := []string{arg}
		if strings.HasPrefix(arg, "-") {
			name, value, ok := strings.Cut(strings.TrimLeft(arg, "-"), "=")
			if ok {
				candidates = append(candidates, value)
			}
			if name == "basic-auth" {
				if !ok && i+1 < len(args) {
					value = args[i+1]
				}
				_, pass, _ := strings.Cut(value, ":")
				add(pass)
			}
		}
		for _, c := range candidates {
			if strings.Contains(c, "://") || isMySQLDriverForm(c) || pgdsn.IsKeywordForm(c) {
				dsnSecrets(c, add)
			}
			if strings.Count(c, "://") > 1 {
				// A list of URLs (NATS servers): each one's.
				for _, one := range strings.Split(c, ",") {
					dsnSecrets(one, add)
				}
			}
			sqliteSecrets(c, add)
			privateKeys(c, add)
		}
	}
	return out
}

// privateKeys calls add with every private key written in s (a sealing
// key pasted where a file name or any other value belongs), as written and
// percent-decoded: the whole key, by its form (PRIVATE+KEY+name+hash+data,
// the name holding neither '+' nor a space), and its key data alone, also
// in pieces and with '+' read as a space, as a URL query decodes it, so
// that a message that shows the key re-encoded or cut still hides it.
func privateKeys(s string, add func(string)) {
	forms := []string{s}
	if u, err := url.PathUnescape(s); err == nil && u != s {
		forms = append(forms, u)
	}
	for _, f := range forms {
		for _, m := range privateKeyPattern.FindAllStringSubmatch(f, -1) {
			key, data := m[0], m[1]
			add(key)
			add(strings.ReplaceAll(key, "+", " "))
			add(data)
			add(strings.ReplaceAll(data, "+", " "))
			for _, piece := range strings.FieldsFunc(data, func(r rune) bool { return r == '+' || r == '/' || r == '=' }) {
				if len(piece) >= 8 {
					add(piece)
				}
			}
		}
	}
	// As written, percent-escaped (PRIVATE%2BKEY%2B…, in either case).
	for _, k := range escapedPrivateKeyPattern.FindAllString(s, -1) {
		add(k)
	}
	// A PEM private key (a TLS key pasted for --tls-key): the block, and
	// its base64 lines, alone and joined.
	for _, f := range forms {
		for _, m := range pemPrivateKeyPattern.FindAllStringSubmatch(f, -1) {
			lines := strings.Fields(m[1])
			if len(strings.Join(lines, "")) < 40 {
				continue // a header with no key after it (a search for one)
			}
			add(m[0])
			add(strings.Join(lines, ""))
			for _, l := range lines {
				if len(l) >= 8 {
					add(l)
				}
			}
		}
	}
}

// holdsPrivateKey reports whether an argument holds a private key: a
// sealing key or a PEM one, as written or percent-escaped.
func holdsPrivateKey(args []string) bool {
	for _, a := range args {
		found := false
		privateKeys(a, func(string) { found = true })
		if found {
			return true
		}
	}
	return false
}

// pemPrivateKeyPattern matches a PEM private key (PKCS #8, RSA, EC,
// OpenSSH, encrypted), its base64 lines in the submatch, also one cut
// short of its END line.
var pemPrivateKeyPattern = regexp.MustCompile(`-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----([A-Za-z0-9+/=\s:,-]*?)(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|$)`)

// privateKeyPattern matches a private key as seal-key writes it (a note
// signer's key): its name, the key hash in hex, and the key data in base64.
var privateKeyPattern = regexp.MustCompile(`PRIVATE\+KEY\+[^+\s]+\+[0-9a-fA-F]{8}\+([A-Za-z0-9+/]+=*)`)

// escapedPrivateKeyPattern matches one percent-escaped.
var escapedPrivateKeyPattern = regexp.MustCompile(`(?i)PRIVATE%2BKEY%2B\S+?%2B[0-9a-f]{8}%2B(?:[A-Za-z0-9/=]|%2B|%2F|%3D)+`)

// dsnSecrets calls add with every password in the DSN s: exactly where s
// parses, by a looser reading where it does not (a value the command then
// rejects is still echoed by some messages).
func dsnSecrets(s string, add func(string)) {
	// user:password@ in a URL or in the MySQL driver's form.
	if _, rest, isURL := strings.Cut(s, "://"); isURL {
		if u, err := url.Parse(s); err == nil {
			if _, hasPassword := u.User.Password(); (u.Scheme == "nats" || u.Scheme == "tls") && u.User != nil && !hasPassword {
				// NATS puts a token in the user part; beside a password it
				// is a user's name ("relay"), which blanked every word of
				// that spelling in every message.
				add(u.User.Username())
			}
			if pass, ok := u.User.Password(); ok {
				add(pass)
				add(strings.SplitN(u.User.String(), ":", 2)[1]) // as written
			}
			for k, vs := range u.Query() {
				if pgdsn.IsSecretKey(k) {
					for _, v := range vs {
						add(v)
					}
				}
			}
		} else {
			looseUserinfo(rest, add)
		}
	} else if isMySQLDriverForm(s) {
		if cfg, err := mysqldrv.ParseDSN(s); err == nil {
			add(cfg.Passwd)
		} else {
			looseUserinfo(s, add)
		}
	}
	// password=… settings and parameters, quoted or not.
	if settings, err := pgdsn.ParseKeywords(s); err == nil && pgdsn.IsKeywordForm(s) {
		for _, st := range settings {
			if pgdsn.IsSecretKey(st.Key) {
				addPieces(st.Value, add)
			}
		}
	}
	for _, loc := range secretPattern.FindAllStringIndex(s, -1) {
		v := s[loc[1]:]
		quoted := strings.HasPrefix(v, "'")
		if quoted {
			v = v[1:]
		}
		// The value as written runs to the closing quote, or to the first
		// whitespace that no backslash escapes.
		var read strings.Builder
		end := 0
		for end < len(v) && (quoted && v[end] != '\'' || !quoted && !strings.ContainsRune(" \t\n\r\f\v&;", rune(v[end]))) {
			if v[end] == '\\' && end+1 < len(v) {
				end++
			}
			read.WriteByte(v[end])
			end++
		}
		// As written (with its backslashes), as read, and in pieces: the
		// PostgreSQL driver's messages mask such a password only up to
		// its first space.
		addPieces(v[:end], add)
		addPieces(read.String(), add)
	}
}

// addPieces calls add with s and, if it holds whitespace, with each of its
// whitespace-separated pieces (a short piece is hidden only where it
// stands as a word of its own, see minInnerSecret).
func addPieces(s string, add func(string)) {
	add(s)
	if pieces := strings.Fields(s); len(pieces) > 1 || len(pieces) == 1 && pieces[0] != s {
		for _, p := range pieces {
			// A short piece of letters or digits ("to", "1") is an
			// ordinary word of messages: hiding it garbled them, and it
			// gives little of the password. One with other characters
			// (word\, a\') is not.
			if len(p) >= minInnerSecret || strings.IndexFunc(p, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }) >= 0 {
				add(p)
			}
		}
	}
}

// sqliteSecrets calls add with the encryption keys and passwords in the
// parameters of a SQLite DSN (file:, sqlite: or a path, then ?…):
// _pragma=key('…') and its textkey, hexkey, rekey, textrekey and hexrekey
// forms, quoted or not, closed or not, as written and percent-decoded;
// _pragma_key, _auth_pass. The driver echoes a pragma it cannot run.
func sqliteSecrets(s string, add func(string)) {
	_, query, ok := strings.Cut(s, "?")
	if !ok {
		return
	}
	// Parameters split at '&' only, as the drivers' URLs do: a key may
	// hold a ';'.
	for _, kv := range strings.Split(query, "&") {
		name, val, _ := strings.Cut(kv, "=")
		forms := []string{val}
		if u, err := url.QueryUnescape(val); err == nil && u != val {
			forms = append(forms, u)
		}
		for _, f := range forms {
			switch strings.ToLower(name) {
			case "_pragma":
				if m := sqliteKeyPragma.FindStringSubmatch(f); m != nil {
					add(m[1])
					add(strings.Trim(strings.TrimSuffix(strings.TrimSpace(m[1]), ")"), `'"`))
				}
			case "_pragma_key", "_auth_pass":
				add(f)
				add(strings.Trim(f, `'"`))
			}
		}
	}
}

// sqliteKeyPragma matches a key pragma's argument: key('…'), textkey="…",
// hexkey=x, and one cut short.
var sqliteKeyPragma = regexp.MustCompile(`(?i)^\s*(?:text|hex)?(?:re)?key\s*[=(]\s*(.+)$`)

// looseUserinfo finds user:password@ before the parameters of a DSN that
// does not parse.
func looseUserinfo(s string, add func(string)) {
	if q := strings.IndexByte(s, '?'); q >= 0 {
		s = s[:q]
	}
	if at := strings.LastIndex(s, "@"); at >= 0 {
		if _, pass, ok := strings.Cut(s[:at], ":"); ok {
			add(pass)
		}
	}
}
