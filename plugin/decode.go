package plugin

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/aiflow-dev/aiflow/ir"
)

// FieldError is a problem with one field of a config ("" for the config as a whole).
type FieldError struct {
	Field string
	Msg   string
	// At, when set, is a path into the params the problem is at ("steps[1]"), for its line;
	// unlike Field it is not printed.
	At string
}

func (e FieldError) Error() string {
	if e.Field == "" {
		return e.Msg
	}
	return e.Field + ": " + e.Msg
}

// FieldErrors is several problems a lint found at once (every broken step of a transform):
// validate reports each on its own line.
type FieldErrors []FieldError

func (e FieldErrors) Error() string {
	msgs := make([]string, len(e))
	for i, fe := range e {
		msgs[i] = fe.Error()
	}
	return strings.Join(msgs, "; ")
}

// Field describes one config field, for `aiflow-runner plugins` and for strict decoding. Fields
// come from struct tags: `json:"name"` `doc:"what it is"` and optionally `required:"true"`.
type Field struct {
	Name     string
	Type     string
	Default  string // JSON of the default value, "" when none
	Required bool
	Doc      string
	index    []int
}

// Fields lists the fields of a config, in declaration order, with the config's values as
// defaults.
func Fields(cfg Config) []Field {
	v := reflect.ValueOf(cfg)
	for v.Kind() == reflect.Pointer {
		v = v.Elem()
	}
	out := append([]Field(nil), fieldsOf(v.Type()).list...)
	for i := range out {
		if fv := v.FieldByIndex(out[i].index); !fv.IsZero() {
			if b, err := json.Marshal(fv.Interface()); err == nil {
				out[i].Default = string(b)
			}
		}
	}
	return out
}

// typeFields is the struct-tag part of Fields, computed once per config type: decoding a node
// must not re-read struct tags (validating 1,000 pipelines decodes 10,000 configs).
type typeFields struct {
	list   []Field // without Default
	byName map[string]int
	names  []string
	rest   []int // index of the `plugin:"rest"` field, nil if none
}

var fieldCache sync.Map // reflect.Type → *typeFields

func fieldsOf(t reflect.Type) *typeFields {
	if tf, ok := fieldCache.Load(t); ok {
		return tf.(*typeFields)
	}
	tf := &typeFields{byName: map[string]int{}}
	collectFields(t, nil, &tf.list)
	for i, f := range tf.list {
		tf.byName[f.Name] = i
		tf.names = append(tf.names, f.Name)
	}
	for i := 0; i < t.NumField(); i++ {
		if t.Field(i).Tag.Get("plugin") == "rest" {
			tf.rest = []int{i}
		}
	}
	fieldCache.Store(t, tf)
	return tf
}

func collectFields(t reflect.Type, index []int, out *[]Field) {
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		idx := append(append([]int{}, index...), i)
		if sf.Anonymous && sf.Type.Kind() == reflect.Struct {
			collectFields(sf.Type, idx, out)
			continue
		}
		name, _, _ := strings.Cut(sf.Tag.Get("json"), ",")
		if name == "" || name == "-" || !sf.IsExported() {
			continue
		}
		*out = append(*out, Field{Name: name, Type: typeName(sf.Type), Required: sf.Tag.Get("required") == "true", Doc: sf.Tag.Get("doc"), index: idx})
	}
}

func typeName(t reflect.Type) string {
	if t == reflect.TypeOf(Secret{}) {
		return "secret"
	}
	if t == reflect.TypeOf(Duration{}) {
		return "duration"
	}
	switch t.Kind() {
	case reflect.Pointer:
		return typeName(t.Elem())
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Int, reflect.Int32, reflect.Int64:
		return "integer"
	case reflect.Float32, reflect.Float64:
		return "number"
	case reflect.Slice:
		return "list of " + typeName(t.Elem())
	case reflect.Map:
		return "mapping of " + typeName(t.Elem())
	case reflect.Interface:
		return "any"
	case reflect.Struct:
		return "object"
	}
	return t.String()
}

// Decode builds the spec's config from a node's params (or resources, with resources=true):
// defaults from New, then each key decoded strictly into its field, then required fields, then
// Validate. All problems are returned, not just the first. The "kind" key of sources and sinks is
// the plugin name itself and is skipped.
func (s *Spec) Decode(params map[string]any, resources bool) (Config, []FieldError) {
	var cfg Config
	if resources {
		if s.NewResources == nil {
			cfg = &PodResources{}
		} else {
			cfg = s.NewResources()
		}
	} else {
		cfg = s.New()
	}
	open := s.Open && !resources
	return cfg, decodeInto(cfg, params, open, s.Role != RoleEngine && !resources)
}

func decodeInto(cfg Config, params map[string]any, open, skipKind bool) []FieldError {
	var errs []FieldError
	root := reflect.ValueOf(cfg).Elem()
	tf := fieldsOf(root.Type())
	fields, names := tf.list, tf.names
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	rest := map[string]any{}
	for _, k := range keys {
		if k == "kind" && skipKind {
			continue
		}
		fi, ok := tf.byName[k]
		if !ok {
			hint := ir.Suggest(k, names)
			if open && hint == "" {
				rest[k] = params[k]
				continue
			}
			if hint == "" && len(names) > 0 {
				hint = " (known: " + strings.Join(names, ", ") + ")"
			}
			errs = append(errs, FieldError{Msg: fmt.Sprintf("unknown field %q%s", k, hint), Field: k})
			continue
		}
		if params[k] == nil {
			continue // null means "use the default"
		}
		if err := decodeValue(root.FieldByIndex(fields[fi].index), params[k]); err != nil {
			errs = append(errs, FieldError{Field: k, Msg: err.Error()})
		}
	}
	if open && len(rest) > 0 && tf.rest != nil {
		root.FieldByIndex(tf.rest).Set(reflect.ValueOf(rest))
	}
	for _, f := range fields {
		if f.Required {
			if v, ok := params[f.Name]; !ok || v == nil {
				errs = append(errs, FieldError{Field: f.Name, Msg: fmt.Sprintf("missing required field %q", f.Name)})
			}
		}
	}
	if len(errs) == 0 {
		if err := cfg.Validate(); err != nil {
			var fe FieldError
			if errors.As(err, &fe) {
				errs = append(errs, fe)
			} else {
				errs = append(errs, FieldError{Msg: err.Error()})
			}
		}
	}
	return errs
}

// decodeValue decodes a generic value into a field through JSON, strictly, with a message that
// names the expected type rather than Go's.
func decodeValue(dst reflect.Value, v any) error {
	if setPlain(dst, v) {
		return nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	ptr := reflect.New(dst.Type())
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(ptr.Interface()); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return fmt.Errorf("want %s, got %s", typeName(dst.Type()), jsonKind(v))
		}
		return errors.New(strings.TrimPrefix(err.Error(), "json: "))
	}
	dst.Set(ptr.Elem())
	return nil
}

var (
	stringType    = reflect.TypeOf("")
	stringsType   = reflect.TypeOf([]string(nil))
	stringMapType = reflect.TypeOf(map[string]string(nil))
	anyMapType    = reflect.TypeOf(map[string]any(nil))
	anyMapsType   = reflect.TypeOf([]map[string]any(nil))
	anyType       = reflect.TypeOf((*any)(nil)).Elem()
	boolType      = reflect.TypeOf(false)
	intType       = reflect.TypeOf(0)
	int64Type     = reflect.TypeOf(int64(0))
)

// setPlain sets the common field types (string, []string, map[string]string, bool, int) from
// a matching generic value without a JSON round trip. It reports false when it did not set dst,
// and the strict JSON path decides (and words any error).
func setPlain(dst reflect.Value, v any) bool {
	switch dst.Type() {
	case stringType:
		if s, ok := v.(string); ok {
			dst.SetString(s)
			return true
		}
	case boolType:
		if b, ok := v.(bool); ok {
			dst.SetBool(b)
			return true
		}
	case intType, int64Type:
		if n, ok := v.(json.Number); ok {
			if i, err := strconv.ParseInt(string(n), 10, 64); err == nil && (dst.Type() == int64Type || int64(int(i)) == i) {
				dst.SetInt(i)
				return true
			}
		}
	case stringsType:
		if l, ok := v.([]any); ok {
			out := make([]string, len(l))
			for i, e := range l {
				s, ok := e.(string)
				if !ok {
					return false
				}
				out[i] = s
			}
			dst.Set(reflect.ValueOf(out))
			return true
		}
	case anyMapType, anyMapsType, anyType:
		// What encoding/json would make of a generic value: numbers become float64.
		g, ok := plainGeneric(v)
		if !ok {
			return false
		}
		switch dst.Type() {
		case anyMapType:
			m, ok := g.(map[string]any)
			if !ok {
				return false
			}
			dst.Set(reflect.ValueOf(m))
		case anyMapsType:
			l, ok := g.([]any)
			if !ok {
				return false
			}
			out := make([]map[string]any, len(l))
			for i, e := range l {
				if out[i], ok = e.(map[string]any); !ok {
					return false
				}
			}
			dst.Set(reflect.ValueOf(out))
		default:
			if g == nil {
				return false
			}
			dst.Set(reflect.ValueOf(g))
		}
		return true
	case stringMapType:
		if m, ok := v.(map[string]any); ok {
			out := make(map[string]string, len(m))
			for k, e := range m {
				s, ok := e.(string)
				if !ok {
					return false
				}
				out[k] = s
			}
			dst.Set(reflect.ValueOf(out))
			return true
		}
	}
	return false
}

// plainGeneric deep-copies a generic value as encoding/json would decode it into an `any`
// (json.Number → float64). It reports false for anything else.
func plainGeneric(v any) (any, bool) {
	switch x := v.(type) {
	case nil, string, bool, float64:
		return x, true
	case json.Number:
		f, err := strconv.ParseFloat(string(x), 64)
		return f, err == nil
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			var ok bool
			if out[i], ok = plainGeneric(e); !ok {
				return nil, false
			}
		}
		return out, true
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			g, ok := plainGeneric(e)
			if !ok {
				return nil, false
			}
			out[k] = g
		}
		return out, true
	}
	return nil, false
}

func jsonKind(v any) string {
	switch x := v.(type) {
	case string:
		return fmt.Sprintf("string %q", x)
	case bool:
		return "boolean"
	case json.Number, float64, int, int64:
		return fmt.Sprintf("number %v", x)
	case []any:
		return "list"
	case map[string]any:
		return "mapping"
	}
	return fmt.Sprintf("%T", v)
}

// Errorf returns a FieldError about one field, for Validate methods.
func Errorf(field, format string, args ...any) error {
	return FieldError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// OneOf checks that v is one of allowed.
func OneOf(field, v string, allowed ...string) error {
	for _, a := range allowed {
		if v == a {
			return nil
		}
	}
	return Errorf(field, "%q is not one of %s%s", v, strings.Join(allowed, ", "), ir.Suggest(v, allowed))
}
