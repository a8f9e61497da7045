package cmd

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestDocumentedCommandLines checks every "wharf …" command line that
// README.md and docs/*.md show, in code blocks and in inline code, against
// the command tree (CheckLine): the commands and flags they use exist and
// are given where the command line accepts them. Synopses ("wharf check
// [--repair]", "bash|zsh|fish", "PATH…") are read as their first form.
func TestDocumentedCommandLines(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, filepath.Join("..", "README.md"))
	app := New("dev", strings.NewReader(""), &strings.Builder{}, &strings.Builder{})
	checked := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range docLines(string(b)) {
			checked++
			if err := CheckLine(app, l.words); err != nil {
				t.Errorf("%s:%d: wharf %s: %v", filepath.Base(f), l.line, strings.Join(l.words, " "), err)
			}
		}
	}
	if checked < 40 {
		t.Errorf("only %d command lines found in the docs: is the extraction broken?", checked)
	}
}

type docLine struct {
	line  int
	words []string
}

var (
	// A wharf command where a shell would run it: at the start, after a
	// prompt, a pipe, a list operator, sudo, $( or <(.
	shellWharf = regexp.MustCompile(`(?:^|\$ |[|;&(]\s*|sudo (?:-u \S+ )?)wharf((?:\s+[^|;&)<>#]*)?)`)
	inlineCode = regexp.MustCompile("`(wharf [^`]+)`")
)

// docLines finds the wharf command lines of a Markdown text.
func docLines(md string) []docLine {
	var out []docLine
	lines := strings.Split(md, "\n")
	inBlock := false
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		if strings.HasPrefix(strings.TrimSpace(l), "```") {
			inBlock = !inBlock
			continue
		}
		if inBlock {
			start := i + 1
			for strings.HasSuffix(l, "\\") && i+1 < len(lines) {
				i++
				l = strings.TrimSuffix(l, "\\") + " " + lines[i]
			}
			for _, m := range shellWharf.FindAllStringSubmatch(strings.TrimSpace(l), -1) {
				if w := shellWords(m[1]); !synopsis(w) {
					out = append(out, docLine{start, w})
				}
			}
			continue
		}
		for _, m := range inlineCode.FindAllStringSubmatch(l, -1) {
			text := strings.ReplaceAll(m[1][len("wharf "):], `\|`, "|")
			out = append(out, docLine{i + 1, synopsisWords(text)})
		}
	}
	return out
}

// synopsis reports whether words are a usage line rather than a command
// (the README's list of commands, in a text block): it has [ or |.
func synopsis(words []string) bool {
	for _, w := range words {
		if strings.ContainsAny(w, "[|") {
			return true
		}
	}
	return false
}

// synopsisWords reads a usage line as its first form: brackets dropped,
// "a|b" as a, "…" dropped, "login/push/pull" as login.
func synopsisWords(s string) []string {
	s = strings.NewReplacer("[", " ", "]", " ", "…", " ", "...", " ").Replace(s)
	var out []string
	for _, w := range shellWords(s) {
		w, _, _ = strings.Cut(w, "|")
		if len(out) == 0 {
			w, _, _ = strings.Cut(w, "/")
		}
		if w != "" {
			out = append(out, w)
		}
	}
	return out
}

// shellWords splits s as a shell would, well enough for documentation:
// quotes group, a backslash escapes, $(…) and ~ are kept as text.
func shellWords(s string) []string {
	var out []string
	var cur strings.Builder
	in, quote := false, rune(0)
	for _, r := range s {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case r == '"' || r == '\'':
			quote, in = r, true
		case r == ' ' || r == '\t':
			if in {
				out = append(out, cur.String())
				cur.Reset()
				in = false
			}
		default:
			cur.WriteRune(r)
			in = true
		}
	}
	if in {
		out = append(out, cur.String())
	}
	return out
}

// TestCheckLine: CheckLine refuses what the command line would refuse.
func TestCheckLine(t *testing.T) {
	app := New("dev", strings.NewReader(""), &strings.Builder{}, &strings.Builder{})
	md := "Run `wharf restore DIR --data NEW` or `wharf check [--repair]`.\n\n```sh\n" +
		"$ wharf user add alice --frob\nwharf space create \"Team Photos\" --quota 50G   # a comment\n" +
		"PW=$(wharf apppass create alice --label laptop)\nwharf space frob x\nwharf target add x --space\n" +
		"wharf token create alice \\\n  --scope read --ttl 720h\n```\n"
	want := map[int]string{
		1:  "",
		4:  "wharf user add has no flag --frob",
		5:  "",
		6:  "",
		7:  `wharf space has no command "frob"`,
		8:  "wharf target add --space needs a value",
		9:  "",
		-1: "",
	}
	got := docLines(md)
	if len(got) != 8 {
		t.Fatalf("docLines found %d lines, want 8: %+v", len(got), got)
	}
	for _, l := range got {
		err := CheckLine(app, l.words)
		w, ok := want[l.line]
		if !ok {
			t.Errorf("unexpected line %d: %q", l.line, l.words)
			continue
		}
		if w == "" && err != nil || w != "" && (err == nil || err.Error() != w) {
			t.Errorf("line %d %q: %v, want %q", l.line, l.words, err, w)
		}
	}
}
