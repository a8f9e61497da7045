package phraseanet

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Field is one field of a target's form schema.
type Field struct {
	Name     string   `json:"name"`
	Type     string   `json:"type"` // string (a string or a list of strings), number or boolean; "": string
	Required bool     `json:"required,omitempty"`
	Allowed  []string `json:"allowed,omitempty"` // the values allowed, as strings ("12", "true"); none: any
}

// Schema is a target's form schema: the fields a person must or may fill.
// Fields not in it are accepted as they come.
type Schema struct {
	Fields []Field `json:"fields"`
}

// ParseSchema reads a form schema: {"fields":[{"name","type","required",
// "allowed"}...]} or the bare list of fields. "values", "enum" and
// "allowedValues" are accepted for "allowed". It returns an error wrapping
// ErrBadInput saying what is wrong.
func ParseSchema(b []byte) (Schema, error) {
	type rawField struct {
		Name          string `json:"name"`
		Type          string `json:"type"`
		Required      bool   `json:"required"`
		Allowed       []any  `json:"allowed"`
		AllowedValues []any  `json:"allowedValues"`
		Values        []any  `json:"values"`
		Enum          []any  `json:"enum"`
	}
	var raw struct {
		Fields []rawField `json:"fields"`
	}
	trimmed := bytes.TrimSpace(b)
	var err error
	if len(trimmed) > 0 && trimmed[0] == '[' {
		err = json.Unmarshal(trimmed, &raw.Fields)
	} else {
		err = json.Unmarshal(trimmed, &raw)
	}
	if err != nil {
		return Schema{}, fmt.Errorf("%w: form schema: %v", ErrBadInput, err)
	}
	var sc Schema
	seen := map[string]bool{}
	for i, rf := range raw.Fields {
		if rf.Name == "" {
			return Schema{}, fmt.Errorf("%w: form schema: field %d has no name", ErrBadInput, i+1)
		}
		if seen[rf.Name] {
			return Schema{}, fmt.Errorf("%w: form schema: field %q twice", ErrBadInput, rf.Name)
		}
		seen[rf.Name] = true
		f := Field{Name: rf.Name, Type: rf.Type, Required: rf.Required}
		if f.Type == "" {
			f.Type = "string"
		}
		if f.Type != "string" && f.Type != "number" && f.Type != "boolean" {
			return Schema{}, fmt.Errorf("%w: form schema: field %q: type %q: want string, number or boolean", ErrBadInput, f.Name, f.Type)
		}
		for _, list := range [][]any{rf.Allowed, rf.AllowedValues, rf.Values, rf.Enum} {
			for _, v := range list {
				s, ok := scalarString(v)
				if !ok {
					return Schema{}, fmt.Errorf("%w: form schema: field %q: allowed values must be strings, numbers or booleans", ErrBadInput, f.Name)
				}
				f.Allowed = append(f.Allowed, s)
			}
		}
		sc.Fields = append(sc.Fields, f)
	}
	return sc, nil
}

// scalarString renders a JSON scalar as the string compared with allowed
// values.
func scalarString(v any) (string, bool) {
	switch v := v.(type) {
	case string:
		return v, true
	case bool:
		return strconv.FormatBool(v), true
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64), true
	case json.Number:
		return v.String(), true
	}
	return "", false
}

// FormError is a form that does not fit its schema: Fields maps each bad
// field to why. It matches ErrBadInput.
type FormError struct {
	Fields map[string]string
}

func (e *FormError) Error() string {
	names := make([]string, 0, len(e.Fields))
	for n := range e.Fields {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteString("invalid form data:")
	for _, n := range names {
		fmt.Fprintf(&b, " %s: %s;", n, e.Fields[n])
	}
	return strings.TrimSuffix(b.String(), ";")
}

func (e *FormError) Is(target error) bool { return target == ErrBadInput }

// Validate checks form data against the schema and returns a *FormError
// naming every bad field, or nil.
func (sc Schema) Validate(form map[string]any) error {
	bad := map[string]string{}
	for _, f := range sc.Fields {
		v, present := form[f.Name]
		if !present || v == nil || v == "" || isEmptyList(v) {
			if f.Required {
				bad[f.Name] = "required"
			}
			continue
		}
		if why := f.check(v); why != "" {
			bad[f.Name] = why
		}
	}
	if len(bad) > 0 {
		return &FormError{Fields: bad}
	}
	return nil
}

func isEmptyList(v any) bool {
	l, ok := v.([]any)
	return ok && len(l) == 0
}

// check returns why v does not fit f, or "".
func (f Field) check(v any) string {
	var values []any
	switch f.Type {
	case "string":
		switch v := v.(type) {
		case string:
			values = []any{v}
		case []any:
			for _, e := range v {
				if _, ok := e.(string); !ok {
					return "must be a string or a list of strings"
				}
			}
			values = v
		default:
			return "must be a string or a list of strings"
		}
	case "number":
		switch v.(type) {
		case float64, json.Number:
		default:
			return "must be a number"
		}
		values = []any{v}
	case "boolean":
		if _, ok := v.(bool); !ok {
			return "must be true or false"
		}
		values = []any{v}
	}
	if len(f.Allowed) == 0 {
		return ""
	}
	for _, e := range values {
		s, _ := scalarString(e)
		ok := false
		for _, a := range f.Allowed {
			if a == s {
				ok = true
				break
			}
		}
		if !ok {
			return fmt.Sprintf("%q is not one of %s", s, strings.Join(f.Allowed, ", "))
		}
	}
	return ""
}

// MergeForm builds a commit's form data: the user's values without control
// keys (starting with "__"), then the target's fixed params on top, then
// collection_destination from the target's default destination if still
// unset.
func MergeForm(user map[string]any, params map[string]any, destination string) map[string]any {
	out := make(map[string]any, len(user)+len(params)+1)
	for k, v := range user {
		out[k] = v
	}
	for k, v := range params {
		out[k] = v
	}
	if d, ok := out["collection_destination"]; (!ok || d == nil || d == "") && destination != "" {
		out["collection_destination"] = destination
	}
	for k := range out {
		if strings.HasPrefix(k, "__") {
			delete(out, k)
		}
	}
	return out
}

// decodeForm reads a JSON form: an object, or PHP's [] for an empty one.
// null or nothing is an empty form.
func decodeForm(raw json.RawMessage) (map[string]any, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" || string(raw) == "[]" {
		return map[string]any{}, nil
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return nil, &FormError{Fields: map[string]string{"formData": "must be a JSON object"}}
	}
	return m, nil
}

// checkForm merges and validates the form data of a new commit for t.
func checkForm(t Target, user map[string]any) (map[string]any, error) {
	var params map[string]any
	if t.Params != "" {
		if err := json.Unmarshal([]byte(t.Params), &params); err != nil {
			return nil, fmt.Errorf("phraseanet: target %q params: %w", t.ID, err)
		}
	}
	form := MergeForm(user, params, t.Destination)
	var sc Schema
	if t.FormSchema != "" {
		if err := json.Unmarshal([]byte(t.FormSchema), &sc); err != nil {
			return nil, fmt.Errorf("phraseanet: target %q form schema: %w", t.ID, err)
		}
	}
	err := sc.Validate(form)
	fe, _ := err.(*FormError)
	if err != nil && fe == nil {
		return nil, err
	}
	if d := form["collection_destination"]; d == nil || d == "" {
		if fe == nil {
			fe = &FormError{Fields: map[string]string{}}
		}
		fe.Fields["collection_destination"] = "required: the target has no default destination"
	}
	if fe != nil {
		return nil, fe
	}
	return form, nil
}
