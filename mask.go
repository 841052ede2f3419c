package auditlog

// MaskString is the default mask: it replaces the first half of the
// characters (rounded down) with '*', as the seed system does:
// "1234" → "**34", "Sensitive data" → "*******ve data", "a" → "a".
func MaskString(clear string) string {
	rs := []rune(clear)
	for i := 0; i < len(rs)/2; i++ {
		rs[i] = '*'
	}
	return string(rs)
}
