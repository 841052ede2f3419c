package main

import (
	"bytes"
	"io"
	"os"
	"strings"
	"testing"
)

// The README's "Use it in your application" program is this file, word for
// word, and it runs.
func TestReadmeProgram(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile("main.go")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(readme, []byte("```go\n"+string(src)+"```\n")) {
		t.Fatal("README.md's program is not examples/readme/main.go: copy the file into the README")
	}
	t.Chdir(t.TempDir())
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout := os.Stdout
	os.Stdout = w
	main()
	os.Stdout = stdout
	w.Close()
	out, _ := io.ReadAll(r)
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "delete alice") || !strings.HasPrefix(lines[1], "update alice") || !strings.Contains(lines[1], "12") {
		t.Fatalf("the program printed:\n%s", out)
	}
}
