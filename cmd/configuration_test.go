package cmd

import (
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// TestConfigurationDocListsEnv: docs/configuration.md lists exactly the
// environment variables the command line reads, each with its flag.
func TestConfigurationDocListsEnv(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "docs", "configuration.md"))
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]string{}
	for _, m := range regexp.MustCompile("(?m)^\\| `(WHARF_[A-Z_]+)` \\| ([^|]+) \\|").FindAllStringSubmatch(string(b), -1) {
		documented[m[1]] = m[2]
	}
	app := New("dev", strings.NewReader(""), &strings.Builder{}, &strings.Builder{})
	read := EnvVars(app)
	var names []string
	for k := range read {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, env := range names {
		row, ok := documented[env]
		if !ok {
			t.Errorf("%s (%s) is not in docs/configuration.md", env, read[env])
			continue
		}
		flag := read[env][strings.LastIndex(read[env], "--"):]
		if !strings.Contains(row, flag+"`") {
			t.Errorf("docs/configuration.md: %s is given as %q; the command line reads it for %s", env, row, read[env])
		}
	}
	for env := range documented {
		if _, ok := read[env]; !ok {
			t.Errorf("docs/configuration.md lists %s, which the command line does not read", env)
		}
	}
}
