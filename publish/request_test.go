package publish

import "testing"

// TestRequestHash: what decides between "the same finalization again"
// (200, the recorded answer) and "another one" (409).
func TestRequestHash(t *testing.T) {
	base := requestHash(`{"credit":"ACME","tags":["a","b"]}`, map[string]any{"title": "Shoot", "n": 1})
	for _, tc := range []struct {
		name string
		meta string
		form map[string]any
		same bool
	}{
		{"identical", `{"credit":"ACME","tags":["a","b"]}`, map[string]any{"title": "Shoot", "n": 1}, true},
		{"keys in another order", `{"tags":["a","b"],"credit":"ACME"}`, map[string]any{"n": 1, "title": "Shoot"}, true},
		{"other metadata", `{"credit":"Someone","tags":["a","b"]}`, map[string]any{"title": "Shoot", "n": 1}, false},
		{"list in another order", `{"credit":"ACME","tags":["b","a"]}`, map[string]any{"title": "Shoot", "n": 1}, false},
		{"no metadata", ``, map[string]any{"title": "Shoot", "n": 1}, false},
		{"other form", `{"credit":"ACME","tags":["a","b"]}`, map[string]any{"title": "Other", "n": 1}, false},
		{"no form", `{"credit":"ACME","tags":["a","b"]}`, map[string]any{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := requestHash(tc.meta, tc.form) == base; got != tc.same {
				t.Errorf("same = %v, want %v", got, tc.same)
			}
		})
	}
	if requestHash("", nil) != requestHash("", map[string]any{}) {
		t.Error("no form and an empty form differ")
	}
}
