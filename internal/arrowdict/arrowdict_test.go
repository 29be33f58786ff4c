package arrowdict_test

import (
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/aiflow-dev/aiflow/internal/arrowdict"
)

func strs(t *testing.T, mem memory.Allocator, vals string) arrow.Array {
	t.Helper()
	a, _, err := array.FromJSON(mem, arrow.BinaryTypes.String, strings.NewReader(vals))
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func render(a arrow.Array) []string {
	out := make([]string, a.Len())
	for i := range out {
		if a.IsNull(i) {
			out[i] = "(null)"
		} else {
			out[i] = a.ValueStr(i)
		}
	}
	return out
}

// Expand and MapBool read the indices of any index type, nulls in the indices and in the
// dictionary, and a sliced array; Wrap round-trips a plain array.
func TestExpandMapBoolWrap(t *testing.T) {
	for _, tc := range []struct {
		name     string
		idxType  arrow.DataType
		idx      string
		dict     string
		entry    string // a boolean per dictionary value
		from, to int64  // slice of the dictionary array
		want     []string
		wantBool []string
	}{
		{"int32", arrow.PrimitiveTypes.Int32, `[0, 1, 1, 2, 0]`, `["paid", "open", ""]`, `[true, false, true]`, 0, 5,
			[]string{"paid", "open", "open", "", "paid"}, []string{"true", "false", "false", "true", "true"}},
		{"null indices", arrow.PrimitiveTypes.Int32, `[0, null, 1, null]`, `["a", "bb"]`, `[false, true]`, 0, 4,
			[]string{"a", "(null)", "bb", "(null)"}, []string{"false", "(null)", "true", "(null)"}},
		{"null dictionary value", arrow.PrimitiveTypes.Int32, `[1, 0, 1]`, `["x", null]`, `[true, null]`, 0, 3,
			[]string{"(null)", "x", "(null)"}, []string{"(null)", "true", "(null)"}},
		{"int8 sliced", arrow.PrimitiveTypes.Int8, `[2, 0, 1, 2, null, 0, 1, 2, 2, 0]`, `["p", "q", "r"]`, `[false, false, true]`, 3, 10,
			[]string{"r", "(null)", "p", "q", "r", "r", "p"}, []string{"true", "(null)", "false", "false", "true", "true", "false"}},
		{"int16", arrow.PrimitiveTypes.Int16, `[1, 1, 0]`, `["long value here", "v"]`, `[true, true]`, 0, 3,
			[]string{"v", "v", "long value here"}, []string{"true", "true", "true"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer mem.AssertSize(t, 0)
			idx, _, err := array.FromJSON(mem, tc.idxType, strings.NewReader(tc.idx))
			if err != nil {
				t.Fatal(err)
			}
			defer idx.Release()
			dict := strs(t, mem, tc.dict)
			defer dict.Release()
			full := array.NewDictionaryArray(&arrow.DictionaryType{IndexType: tc.idxType, ValueType: arrow.BinaryTypes.String}, idx, dict)
			defer full.Release()
			d := array.NewSlice(full, tc.from, tc.to).(*array.Dictionary)
			defer d.Release()

			plain, err := arrowdict.Expand(d, mem)
			if err != nil {
				t.Fatal(err)
			}
			defer plain.Release()
			if got := render(plain); strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Errorf("Expand = %q, want %q", got, tc.want)
			}

			entry, _, err := array.FromJSON(mem, arrow.FixedWidthTypes.Boolean, strings.NewReader(tc.entry))
			if err != nil {
				t.Fatal(err)
			}
			defer entry.Release()
			bd := arrowdict.MapBool(d, entry.(*array.Boolean), mem)
			b := array.MakeFromData(bd)
			bd.Release()
			defer b.Release()
			if got := render(b); strings.Join(got, ",") != strings.Join(tc.wantBool, ",") {
				t.Errorf("MapBool = %q, want %q", got, tc.wantBool)
			}

			w, err := arrowdict.Wrap(plain, mem)
			if err != nil {
				t.Fatal(err)
			}
			defer w.Release()
			if !arrow.TypeEqual(w.DataType(), arrowdict.Type) {
				t.Errorf("Wrap type %s", w.DataType())
			}
			back, err := arrowdict.Expand(w.(*array.Dictionary), mem)
			if err != nil {
				t.Fatal(err)
			}
			defer back.Release()
			if !array.Equal(back, plain) {
				t.Errorf("Expand(Wrap(a)) = %v, want %v", back, plain)
			}
		})
	}
}

func TestPlainSchema(t *testing.T) {
	sc := arrow.NewSchema([]arrow.Field{{Name: "a", Type: arrowdict.Type}, {Name: "b", Type: arrow.PrimitiveTypes.Int64}}, nil)
	p := arrowdict.PlainSchema(sc)
	if p.Field(0).Type.ID() != arrow.STRING || p.Field(1).Type.ID() != arrow.INT64 || sc.Field(0).Type.ID() != arrow.DICTIONARY {
		t.Fatalf("PlainSchema(%s) = %s", sc, p)
	}
	if plain := arrow.NewSchema(p.Fields(), nil); arrowdict.PlainSchema(plain) != plain {
		t.Fatal("a schema without dictionaries is not returned as it is")
	}
}
