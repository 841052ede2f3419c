package auditcli_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/go-auditlog/auditlog/auditcli"
)

// Run is the whole command, for embedding it in an application's own
// binary (as `myapp audit …`) or testing it with injected input and output.
func ExampleRun() {
	dir, _ := os.MkdirTemp("", "auditcli-example")
	defer os.RemoveAll(dir)
	db := "sqlite:" + filepath.Join(dir, "app.db")
	var out, errs strings.Builder
	env := auditcli.Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errs}

	status := auditcli.Run(context.Background(), []string{"migrate", "--db", db}, env)
	fmt.Println("migrate:", status)
	out.Reset()
	status = auditcli.Run(context.Background(), []string{"export", "--db", db, "--format", "jsonl"}, env)
	fmt.Printf("export: %d, %q\n", status, out.String())
	status = auditcli.Run(context.Background(), []string{"export", "--format", "xml"}, env)
	fmt.Println("a usage error:", status)
	// Output:
	// migrate: 0
	// export: 0, ""
	// a usage error: 2
}
