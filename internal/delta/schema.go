package delta

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/aiflow-dev/aiflow/fault"
)

// Field is one column of a Delta schema (Spark's StructField JSON).
type Field struct {
	Name     string         `json:"name"`
	Type     DataType       `json:"type"`
	Nullable bool           `json:"nullable"`
	Metadata map[string]any `json:"metadata"`
}

// DataType is a Delta type: a primitive name ("long", "decimal(10,2)") or a nested type.
type DataType struct {
	Primitive string // set for primitive types
	// Nested types.
	Kind              string // "struct", "array" or "map"
	Fields            []Field
	ElementType       *DataType
	ContainsNull      bool
	KeyType           *DataType
	ValueType         *DataType
	ValueContainsNull bool
}

// MarshalJSON renders a primitive as a string and a nested type as an object.
func (t DataType) MarshalJSON() ([]byte, error) {
	switch t.Kind {
	case "":
		return json.Marshal(t.Primitive)
	case "struct":
		fs := t.Fields
		if fs == nil {
			fs = []Field{}
		}
		return json.Marshal(struct {
			Type   string  `json:"type"`
			Fields []Field `json:"fields"`
		}{"struct", fs})
	case "array":
		return json.Marshal(struct {
			Type         string    `json:"type"`
			ElementType  *DataType `json:"elementType"`
			ContainsNull bool      `json:"containsNull"`
		}{"array", t.ElementType, t.ContainsNull})
	case "map":
		return json.Marshal(struct {
			Type              string    `json:"type"`
			KeyType           *DataType `json:"keyType"`
			ValueType         *DataType `json:"valueType"`
			ValueContainsNull bool      `json:"valueContainsNull"`
		}{"map", t.KeyType, t.ValueType, t.ValueContainsNull})
	}
	return nil, fmt.Errorf("delta type of unknown kind %q", t.Kind)
}

// UnmarshalJSON reads a primitive name or a nested type object.
func (t *DataType) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*t = DataType{Primitive: s}
		return nil
	}
	var o struct {
		Type              string    `json:"type"`
		Fields            []Field   `json:"fields"`
		ElementType       *DataType `json:"elementType"`
		ContainsNull      bool      `json:"containsNull"`
		KeyType           *DataType `json:"keyType"`
		ValueType         *DataType `json:"valueType"`
		ValueContainsNull bool      `json:"valueContainsNull"`
	}
	if err := json.Unmarshal(b, &o); err != nil {
		return err
	}
	switch o.Type {
	case "struct", "array", "map":
	default:
		return fmt.Errorf("unknown delta type %q", o.Type)
	}
	*t = DataType{Kind: o.Type, Fields: o.Fields, ElementType: o.ElementType, ContainsNull: o.ContainsNull,
		KeyType: o.KeyType, ValueType: o.ValueType, ValueContainsNull: o.ValueContainsNull}
	return nil
}

// String renders the type the way error messages show it.
func (t DataType) String() string {
	switch t.Kind {
	case "struct":
		parts := make([]string, len(t.Fields))
		for i, f := range t.Fields {
			parts[i] = f.Name + ": " + f.Type.String()
		}
		return "struct<" + strings.Join(parts, ", ") + ">"
	case "array":
		return "array<" + t.ElementType.String() + ">"
	case "map":
		return "map<" + t.KeyType.String() + ", " + t.ValueType.String() + ">"
	}
	return t.Primitive
}

// Schema is a table schema: the top-level struct.
type Schema struct {
	Fields []Field
}

// ParseSchema reads metaData.schemaString.
func ParseSchema(s string) (*Schema, error) {
	var t DataType
	if err := json.Unmarshal([]byte(s), &t); err != nil {
		return nil, fault.Wrap(fault.Data, err, "delta schema")
	}
	if t.Kind != "struct" {
		return nil, fault.Dataf("delta schema is %s, not a struct", t)
	}
	return &Schema{Fields: t.Fields}, nil
}

// String is the schemaString of the schema.
func (s *Schema) String() string {
	b, err := json.Marshal(DataType{Kind: "struct", Fields: s.Fields})
	if err != nil {
		panic(err) // only primitive and nested kinds built by this package
	}
	return string(b)
}

// Field returns the column named name (Delta column names are case-insensitive).
func (s *Schema) Field(name string) (Field, bool) {
	for _, f := range s.Fields {
		if strings.EqualFold(f.Name, name) {
			return f, true
		}
	}
	return Field{}, false
}

var decimalRE = regexp.MustCompile(`^decimal\(\s*(\d+)\s*,\s*(\d+)\s*\)$`)

// ArrowType maps a Delta type to the Arrow type aiflow reads it as.
func (t DataType) ArrowType() (arrow.DataType, error) {
	switch t.Kind {
	case "struct":
		fs := make([]arrow.Field, len(t.Fields))
		for i, f := range t.Fields {
			dt, err := f.Type.ArrowType()
			if err != nil {
				return nil, err
			}
			fs[i] = arrow.Field{Name: f.Name, Type: dt, Nullable: f.Nullable}
		}
		return arrow.StructOf(fs...), nil
	case "array":
		et, err := t.ElementType.ArrowType()
		if err != nil {
			return nil, err
		}
		return arrow.ListOfField(arrow.Field{Name: "element", Type: et, Nullable: t.ContainsNull}), nil
	case "map":
		kt, err := t.KeyType.ArrowType()
		if err != nil {
			return nil, err
		}
		vt, err := t.ValueType.ArrowType()
		if err != nil {
			return nil, err
		}
		m := arrow.MapOf(kt, vt)
		m.SetItemNullable(t.ValueContainsNull)
		return m, nil
	}
	switch t.Primitive {
	case "string":
		return arrow.BinaryTypes.String, nil
	case "long":
		return arrow.PrimitiveTypes.Int64, nil
	case "integer":
		return arrow.PrimitiveTypes.Int32, nil
	case "short":
		return arrow.PrimitiveTypes.Int16, nil
	case "byte":
		return arrow.PrimitiveTypes.Int8, nil
	case "float":
		return arrow.PrimitiveTypes.Float32, nil
	case "double":
		return arrow.PrimitiveTypes.Float64, nil
	case "boolean":
		return arrow.FixedWidthTypes.Boolean, nil
	case "binary":
		return arrow.BinaryTypes.Binary, nil
	case "date":
		return arrow.FixedWidthTypes.Date32, nil
	case "timestamp":
		return &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}, nil
	case "timestamp_ntz":
		return &arrow.TimestampType{Unit: arrow.Microsecond}, nil
	}
	if m := decimalRE.FindStringSubmatch(t.Primitive); m != nil {
		p, _ := strconv.Atoi(m[1])
		s, _ := strconv.Atoi(m[2])
		return &arrow.Decimal128Type{Precision: int32(p), Scale: int32(s)}, nil
	}
	return nil, fault.Dataf("delta type %s is not supported", t)
}

// TypeOf maps an Arrow type to the Delta type it is stored as. Types Delta has no equivalent
// for (unsigned integers, half floats, intervals, …) are refused with fault.Data, naming the
// cast that would make them fit.
func TypeOf(dt arrow.DataType) (DataType, error) {
	switch t := dt.(type) {
	case *arrow.StringType, *arrow.LargeStringType, *arrow.StringViewType:
		return DataType{Primitive: "string"}, nil
	case *arrow.BinaryType, *arrow.LargeBinaryType, *arrow.BinaryViewType, *arrow.FixedSizeBinaryType:
		return DataType{Primitive: "binary"}, nil
	case *arrow.Int64Type:
		return DataType{Primitive: "long"}, nil
	case *arrow.Int32Type:
		return DataType{Primitive: "integer"}, nil
	case *arrow.Int16Type:
		return DataType{Primitive: "short"}, nil
	case *arrow.Int8Type:
		return DataType{Primitive: "byte"}, nil
	case *arrow.Float32Type:
		return DataType{Primitive: "float"}, nil
	case *arrow.Float64Type:
		return DataType{Primitive: "double"}, nil
	case *arrow.BooleanType:
		return DataType{Primitive: "boolean"}, nil
	case *arrow.Date32Type:
		return DataType{Primitive: "date"}, nil
	case *arrow.TimestampType:
		if t.TimeZone == "" {
			return DataType{Primitive: "timestamp_ntz"}, nil
		}
		return DataType{Primitive: "timestamp"}, nil
	case *arrow.Decimal128Type:
		if t.Precision > 38 {
			return DataType{}, fault.Dataf("%s: Delta decimals have at most 38 digits", dt)
		}
		return DataType{Primitive: fmt.Sprintf("decimal(%d,%d)", t.Precision, t.Scale)}, nil
	case *arrow.DictionaryType:
		return TypeOf(t.ValueType)
	case *arrow.ListType:
		et, err := TypeOf(t.Elem())
		if err != nil {
			return DataType{}, err
		}
		return DataType{Kind: "array", ElementType: &et, ContainsNull: t.ElemField().Nullable}, nil
	case *arrow.LargeListType:
		et, err := TypeOf(t.Elem())
		if err != nil {
			return DataType{}, err
		}
		return DataType{Kind: "array", ElementType: &et, ContainsNull: t.ElemField().Nullable}, nil
	case *arrow.MapType:
		kt, err := TypeOf(t.KeyType())
		if err != nil {
			return DataType{}, err
		}
		vt, err := TypeOf(t.ItemType())
		if err != nil {
			return DataType{}, err
		}
		return DataType{Kind: "map", KeyType: &kt, ValueType: &vt, ValueContainsNull: t.ItemField().Nullable}, nil
	case *arrow.StructType:
		fs := make([]Field, len(t.Fields()))
		for i, f := range t.Fields() {
			ft, err := TypeOf(f.Type)
			if err != nil {
				return DataType{}, fmt.Errorf("%s: %w", f.Name, err)
			}
			fs[i] = Field{Name: f.Name, Type: ft, Nullable: f.Nullable, Metadata: map[string]any{}}
		}
		return DataType{Kind: "struct", Fields: fs}, nil
	case *arrow.Uint8Type, *arrow.Uint16Type, *arrow.Uint32Type, *arrow.Uint64Type:
		return DataType{}, fault.Dataf("%s: Delta has no unsigned integers; cast the column to a signed type (int16/int32/int64) or decimal", dt)
	}
	return DataType{}, fault.Dataf("%s: no Delta Lake equivalent; cast the column first", dt)
}

// SchemaOf maps an Arrow schema to a Delta schema (see TypeOf).
func SchemaOf(sc *arrow.Schema) (*Schema, error) {
	out := &Schema{Fields: make([]Field, 0, sc.NumFields())}
	seen := map[string]string{}
	for _, f := range sc.Fields() {
		if prev, dup := seen[strings.ToLower(f.Name)]; dup {
			return nil, fault.Dataf("columns %s and %s differ only in case; Delta column names are case-insensitive", prev, f.Name)
		}
		seen[strings.ToLower(f.Name)] = f.Name
		t, err := TypeOf(f.Type)
		if err != nil {
			return nil, fault.Wrap(fault.Data, err, "column %s", f.Name)
		}
		out.Fields = append(out.Fields, Field{Name: f.Name, Type: t, Nullable: true, Metadata: map[string]any{}})
	}
	return out, nil
}

// ArrowSchema maps the Delta schema to Arrow.
func (s *Schema) ArrowSchema() (*arrow.Schema, error) {
	fs := make([]arrow.Field, len(s.Fields))
	for i, f := range s.Fields {
		dt, err := f.Type.ArrowType()
		if err != nil {
			return nil, fault.Wrap(fault.Data, err, "column %s", f.Name)
		}
		fs[i] = arrow.Field{Name: f.Name, Type: dt, Nullable: f.Nullable}
	}
	return arrow.NewSchema(fs, nil), nil
}

// sameColumns reports whether two schemas have the same column names (case-insensitively) and
// types, in any order; nullability is not compared (every column aiflow writes is nullable).
func sameColumns(a, b *Schema) (bool, string) {
	if len(a.Fields) != len(b.Fields) {
		return false, fmt.Sprintf("%d columns, not %d", len(b.Fields), len(a.Fields))
	}
	for _, f := range a.Fields {
		g, ok := b.Field(f.Name)
		if !ok {
			return false, "no column " + f.Name
		}
		if !sameType(f.Type, g.Type) {
			return false, fmt.Sprintf("column %s is %s, not %s", f.Name, g.Type, f.Type)
		}
	}
	return true, ""
}

func sameType(a, b DataType) bool {
	if a.Kind != b.Kind {
		return false
	}
	switch a.Kind {
	case "":
		return strings.EqualFold(strings.ReplaceAll(a.Primitive, " ", ""), strings.ReplaceAll(b.Primitive, " ", ""))
	case "array":
		return sameType(*a.ElementType, *b.ElementType)
	case "map":
		return sameType(*a.KeyType, *b.KeyType) && sameType(*a.ValueType, *b.ValueType)
	}
	if len(a.Fields) != len(b.Fields) {
		return false
	}
	for i := range a.Fields {
		if !strings.EqualFold(a.Fields[i].Name, b.Fields[i].Name) || !sameType(a.Fields[i].Type, b.Fields[i].Type) {
			return false
		}
	}
	return true
}
