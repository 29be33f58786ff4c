package kafka

import (
	"encoding/json"
	"testing"
)

func TestScanObject(t *testing.T) {
	good := []string{
		`{}`, ` { "a" : 1 , "b":"x\"y\\u00e9\ud83d\ude00", "c": [1, {"d": "]"}], "e": null, "f": true, "g": -1.5e3 } `,
	}
	for _, in := range good {
		var want map[string]any
		if err := json.Unmarshal([]byte(in), &want); err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		err := scanObject([]byte(in), func(k []byte, esc bool, v jsonToken) error {
			s := string(v.raw)
			if v.kind == jsonString {
				u, err := unquote(v, nil)
				if err != nil {
					return err
				}
				s = string(u)
			}
			got[string(k)] = s
			return nil
		})
		if err != nil || len(got) != len(want) {
			t.Fatalf("%s: %v %v", in, got, err)
		}
		if b, ok := want["b"].(string); ok && got["b"] != b {
			t.Fatalf("unquote: %q, want %q", got["b"], b)
		}
	}
	for _, in := range []string{``, `[]`, `{"a"}`, `{"a":1,}`, `{"a":1} x`, `{"a":"unterminated}`, `{"a":tru}`, "{\"a\":\"\x01\"}", `"s"`} {
		if err := scanObject([]byte(in), func([]byte, bool, jsonToken) error { return nil }); err == nil {
			t.Errorf("%q: no error", in)
		}
	}
}

func TestInferFields(t *testing.T) {
	fs := InferFields([][]byte{
		[]byte(`{"a": 1, "b": 1.5, "c": "2024-01-01T00:00:00Z", "d": true, "offset": 3, "e": {"x": 1}}`),
		[]byte(`{"a": 2, "b": 2, "c": "2024-01-02T00:00:00.5Z", "d": false, "f": null}`),
		[]byte(`not json`),
	})
	want := map[string]string{"a": "int64", "b": "float64", "c": "timestamp[us, tz=UTC]", "d": "bool", "value_offset": "int64", "e": "string", "f": "string"}
	if len(fs) != len(want) {
		t.Fatalf("%+v", fs)
	}
	for _, f := range fs {
		if want[f.Name] != f.Type {
			t.Errorf("%s: %s, want %s", f.Name, f.Type, want[f.Name])
		}
	}
}
