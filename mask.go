package auditlog

// MaskString is the default mask. It keeps the length of the value and
// shows at most its last four characters, and fewer of a short value (one
// character in four): "4111111111111111" → "************1111", "1234" →
// "***4", "abc" → "***". PCI DSS allows at most the first six and last four
// digits of a card number to be shown; use MaskWith or Registry.SetMask for
// another rule, and Exclude for values (passwords, tokens) of which nothing
// may be shown.
func MaskString(clear string) string {
	rs := []rune(clear)
	keep := min(4, len(rs)/4)
	for i := 0; i < len(rs)-keep; i++ {
		rs[i] = '*'
	}
	return string(rs)
}
