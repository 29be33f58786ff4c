package ir

import (
	"bytes"
	"encoding/json"
	"os"
	"testing"
)

// TestCanonicalVectorsSharedWithPython checks the canonical JSON test vectors that the Python DSL
// checks too (python/tests/canonical_vectors.json): both implementations write the same bytes.
func TestCanonicalVectorsSharedWithPython(t *testing.T) {
	b, err := os.ReadFile("../python/tests/canonical_vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Vectors []struct {
			Name      string `json:"name"`
			Input     string `json:"input_json"`
			Canonical string `json:"canonical"`
			SHA256    string `json:"sha256"`
		} `json:"vectors"`
		Errors []struct {
			Name  string `json:"name"`
			Input string `json:"input_json"`
		} `json:"errors"`
	}
	if err := json.Unmarshal(b, &file); err != nil {
		t.Fatal(err)
	}
	if len(file.Vectors) == 0 {
		t.Fatal("no vectors")
	}
	decode := func(s string) (any, error) {
		d := json.NewDecoder(bytes.NewReader([]byte(s)))
		d.UseNumber()
		var v any
		err := d.Decode(&v)
		return v, err
	}
	for _, v := range file.Vectors {
		in, err := decode(v.Input)
		if err != nil {
			t.Fatalf("%s: %v", v.Name, err)
		}
		got, err := CanonicalJSON(in)
		if err != nil {
			t.Errorf("%s: %v", v.Name, err)
			continue
		}
		if string(got) != v.Canonical {
			t.Errorf("%s: got %s, want %s", v.Name, got, v.Canonical)
		}
		if HashBytes(got) != v.SHA256 {
			t.Errorf("%s: hash differs", v.Name)
		}
	}
	for _, v := range file.Errors {
		in, err := decode(v.Input)
		if err != nil {
			continue
		}
		if _, err := CanonicalJSON(in); err == nil {
			t.Errorf("%s: want an error", v.Name)
		}
	}
}
