package plugin

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
)

// setPlain is a shortcut of the strict JSON path of decodeValue: whenever it sets a field, the
// result must equal what the JSON path gives.
func TestSetPlainMatchesJSON(t *testing.T) {
	var (
		s  string
		b  bool
		i  int
		i6 int64
		ss []string
		sm map[string]string
		am map[string]any
		al []map[string]any
		a  any
	)
	dsts := []any{&s, &b, &i, &i6, &ss, &sm, &am, &al, &a}
	values := []any{
		"x", "", true, false, json.Number("3"), json.Number("-0"), json.Number("1.5"), json.Number("1e3"),
		json.Number("9223372036854775807"), json.Number("99999999999999999999"),
		[]any{}, []any{"a", "b"}, []any{"a", nil}, []any{"a", json.Number("1")},
		map[string]any{}, map[string]any{"k": "v"}, map[string]any{"k": json.Number("2.50"), "l": []any{true, nil, map[string]any{"z": "y"}}},
		[]any{map[string]any{"filter": "a > 1"}, map[string]any{"limit": json.Number("10")}}, []any{"not a map"},
	}
	for _, dst := range dsts {
		typ := reflect.TypeOf(dst).Elem()
		for _, v := range values {
			fast := reflect.New(typ).Elem()
			if !setPlain(fast, v) {
				continue
			}
			raw, _ := json.Marshal(v)
			slow := reflect.New(typ)
			dec := json.NewDecoder(bytes.NewReader(raw))
			dec.DisallowUnknownFields()
			if err := dec.Decode(slow.Interface()); err != nil {
				t.Errorf("%v ← %#v: fast path set it, JSON path fails: %v", typ, v, err)
				continue
			}
			if !reflect.DeepEqual(fast.Interface(), slow.Elem().Interface()) {
				t.Errorf("%v ← %#v: fast %#v, JSON %#v", typ, v, fast.Interface(), slow.Elem().Interface())
			}
		}
	}
}

func TestFieldsCacheKeepsDefaultsPerInstance(t *testing.T) {
	a := Fields(&PodResources{CPU: "1"})
	b := Fields(&PodResources{CPU: "2"})
	if a[0].Default != `"1"` || b[0].Default != `"2"` {
		t.Errorf("defaults %q %q", a[0].Default, b[0].Default)
	}
	a[0].Doc = "changed"
	if Fields(&PodResources{})[0].Doc == "changed" {
		t.Error("Fields returns the cached slice")
	}
}
