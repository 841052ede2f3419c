package value

// Reorders reports whether r reorders or breaks the text around it when
// shown: the bidi embeddings, overrides, isolates and marks, and the line
// and paragraph separators. The command line and the admin UI show such a
// character as its escape (\u202e), so that stored text cannot make what
// they show read otherwise.
func Reorders(r rune) bool {
	return r == 0x061c || r == 0x200e || r == 0x200f || r >= 0x202a && r <= 0x202e || r >= 0x2066 && r <= 0x2069 || r == 0x2028 || r == 0x2029
}
