package phraseanet

import (
	"errors"
	"reflect"
	"testing"
)

func TestValidateNamesEachBadField(t *testing.T) {
	sc, err := ParseSchema([]byte(`{"fields":[
		{"name":"title","type":"string","required":true},
		{"name":"rating","type":"number"},
		{"name":"public","type":"boolean","required":true},
		{"name":"kind","allowed":["photo","video"]},
		{"name":"keywords","type":"string","allowed":["a","b"]},
		{"name":"level","type":"number","enum":[1,2]}
	]}`))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		form map[string]any
		want map[string]string
	}{
		{"valid", map[string]any{"title": "x", "public": false, "rating": 3.0, "kind": "photo",
			"keywords": []any{"a", "b"}, "level": 2.0, "extra": "free"}, nil},
		{"required missing", map[string]any{"public": true}, map[string]string{"title": "required"}},
		{"required empty", map[string]any{"title": "", "public": nil}, map[string]string{"title": "required", "public": "required"}},
		{"wrong types", map[string]any{"title": 5.0, "public": "yes", "rating": "5"}, map[string]string{
			"title": "must be a string or a list of strings", "public": "must be true or false", "rating": "must be a number"}},
		{"not allowed", map[string]any{"title": "x", "public": true, "kind": "audio", "keywords": []any{"a", "z"}, "level": 3.0},
			map[string]string{"kind": `"audio" is not one of photo, video`, "keywords": `"z" is not one of a, b`, "level": `"3" is not one of 1, 2`}},
		{"list of non-strings", map[string]any{"title": []any{1.0}, "public": true}, map[string]string{"title": "must be a string or a list of strings"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := sc.Validate(tt.form)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			var fe *FormError
			if !errors.As(err, &fe) || !errors.Is(err, ErrBadInput) {
				t.Fatalf("err = %v, want a *FormError matching ErrBadInput", err)
			}
			if !reflect.DeepEqual(fe.Fields, tt.want) {
				t.Errorf("fields = %v\nwant %v", fe.Fields, tt.want)
			}
		})
	}
}

func TestParseSchemaErrors(t *testing.T) {
	for name, in := range map[string]string{
		"not JSON":        `{`,
		"no name":         `{"fields":[{"type":"string"}]}`,
		"bad type":        `[{"name":"a","type":"date"}]`,
		"twice":           `[{"name":"a"},{"name":"a"}]`,
		"object in enum":  `[{"name":"a","allowed":[{}]}]`,
		"fields not list": `{"fields":{}}`,
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := ParseSchema([]byte(in)); !errors.Is(err, ErrBadInput) {
				t.Errorf("err = %v, want ErrBadInput", err)
			}
		})
	}
	sc, err := ParseSchema([]byte(`[{"name":"a","values":["x",true,2]}]`))
	if err != nil || sc.Fields[0].Type != "string" || !reflect.DeepEqual(sc.Fields[0].Allowed, []string{"x", "true", "2"}) {
		t.Errorf("bare list with values: %+v, %v", sc, err)
	}
}

func TestMergeForm(t *testing.T) {
	tests := []struct {
		name         string
		user, params map[string]any
		dest         string
		want         map[string]any
	}{
		{"destination default", map[string]any{"title": "t"}, nil, "12",
			map[string]any{"title": "t", "collection_destination": "12"}},
		{"user destination kept", map[string]any{"collection_destination": "7"}, nil, "12",
			map[string]any{"collection_destination": "7"}},
		{"params win", map[string]any{"title": "user", "collection_destination": "7"},
			map[string]any{"title": "fixed", "collection_destination": "9"}, "12",
			map[string]any{"title": "fixed", "collection_destination": "9"}},
		{"control keys stripped", map[string]any{"__notify": true, "a": "b"}, map[string]any{"__x": 1}, "12",
			map[string]any{"a": "b", "collection_destination": "12"}},
		{"empty destination replaced", map[string]any{"collection_destination": ""}, nil, "12",
			map[string]any{"collection_destination": "12"}},
		{"no destination anywhere", map[string]any{"a": "b"}, nil, "", map[string]any{"a": "b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := MergeForm(tt.user, tt.params, tt.dest); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestCheckFormRefusesWithoutDestination(t *testing.T) {
	_, err := checkForm(Target{Params: `{"a":"b"}`}, map[string]any{"collection_destination": ""})
	var fe *FormError
	if !errors.As(err, &fe) || fe.Fields["collection_destination"] == "" {
		t.Fatalf("err = %v, want a FormError naming collection_destination", err)
	}
	form, err := checkForm(Target{Params: `{"collection_destination":"5"}`}, map[string]any{})
	if err != nil || form["collection_destination"] != "5" {
		t.Errorf("destination from params: %v, %v", form, err)
	}
}

func TestAddTargetRefusesBadInput(t *testing.T) {
	f := newFixture(t, nil)
	ok := TargetSpec{Name: "n", SpaceID: "s", Mode: ModePush, URL: "https://dam/api/v1/upload/enqueue/", Key: "k", Destination: "1"}
	tests := map[string]func(*TargetSpec){
		"no name":          func(s *TargetSpec) { s.Name = " " },
		"bad mode":         func(s *TargetSpec) { s.Mode = "poll" },
		"push without url": func(s *TargetSpec) { s.URL = "" },
		"push without key": func(s *TargetSpec) { s.Key = "" },
		"relative url":     func(s *TargetSpec) { s.URL = "/enqueue/" },
		"no destination":   func(s *TargetSpec) { s.Destination = "" },
		"bad every":        func(s *TargetSpec) { s.Every = "often" },
		"tiny every":       func(s *TargetSpec) { s.Every = "10ms" },
		"bad after-ack":    func(s *TargetSpec) { s.AfterAck = "shred" },
		"move nowhere":     func(s *TargetSpec) { s.AfterAck = "move:" },
		"bad schema":       func(s *TargetSpec) { s.FormSchema = []byte(`[{"name":"a","type":"date"}]`) },
		"control param":    func(s *TargetSpec) { s.Params = map[string]string{"__notify": "1"} },
		"bad folder":       func(s *TargetSpec) { s.Folder = "../x" },
	}
	for name, mod := range tests {
		t.Run(name, func(t *testing.T) {
			spec := ok
			mod(&spec)
			if _, _, err := f.svc.AddTarget(f.ctx, spec); !errors.Is(err, ErrBadInput) {
				t.Errorf("err = %v, want ErrBadInput", err)
			}
		})
	}
	spec := ok
	spec.SpaceID = "nope"
	if _, _, err := f.svc.AddTarget(f.ctx, spec); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown space: %v", err)
	}
	tg, secret, err := f.svc.AddTarget(f.ctx, ok)
	if err != nil {
		t.Fatal(err)
	}
	if tg.Scheme != "OAuth" || tg.MaxFiles != 500 || tg.MaxBytes != 10<<30 || tg.AfterAck != "keep" ||
		tg.Retention != DefaultRetention || !tg.Enabled || len(tg.ClientID) == 0 || len(secret) < 32 || tg.ClientSecretHash != clientSecretHash(secret) {
		t.Errorf("defaults not applied: %+v", tg)
	}
	if _, _, err := f.svc.AddTarget(f.ctx, ok); !errors.Is(err, ErrExists) {
		t.Errorf("same name twice: %v", err)
	}
	pull := ok
	pull.Name, pull.Mode, pull.URL, pull.Key, pull.Every = "p", ModePull, "", "", "03:00"
	if tg, _, err := f.svc.AddTarget(f.ctx, pull); err != nil || tg.DailyAt != "03:00" {
		t.Errorf("pull target: %+v, %v", tg, err)
	}
	avoid := ok
	avoid.Name, avoid.URL, avoid.Key = "a", "", NoNotifyKey
	if tg, _, err := f.svc.AddTarget(f.ctx, avoid); err != nil || notifies(tg) {
		t.Errorf("avoid target: %+v, %v", tg, err)
	}
}
