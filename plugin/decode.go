package plugin

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"

	"github.com/aiflow-dev/aiflow/ir"
)

// FieldError is a problem with one field of a config ("" for the config as a whole).
type FieldError struct {
	Field string
	Msg   string
}

func (e FieldError) Error() string {
	if e.Field == "" {
		return e.Msg
	}
	return e.Field + ": " + e.Msg
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

// Fields lists the fields of a config, in declaration order.
func Fields(cfg Config) []Field {
	v := reflect.ValueOf(cfg)
	for v.Kind() == reflect.Pointer {
		v = v.Elem()
	}
	var out []Field
	collectFields(v, nil, &out)
	return out
}

func collectFields(v reflect.Value, index []int, out *[]Field) {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		idx := append(append([]int{}, index...), i)
		if sf.Anonymous && sf.Type.Kind() == reflect.Struct {
			collectFields(v.Field(i), idx, out)
			continue
		}
		name, _, _ := strings.Cut(sf.Tag.Get("json"), ",")
		if name == "" || name == "-" || !sf.IsExported() {
			continue
		}
		f := Field{Name: name, Type: typeName(sf.Type), Required: sf.Tag.Get("required") == "true", Doc: sf.Tag.Get("doc"), index: idx}
		if fv := v.Field(i); !fv.IsZero() {
			if b, err := json.Marshal(fv.Interface()); err == nil {
				f.Default = string(b)
			}
		}
		*out = append(*out, f)
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

// restField finds the field tagged `plugin:"rest"` of an Open config.
func restField(v reflect.Value) (reflect.Value, bool) {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		if t.Field(i).Tag.Get("plugin") == "rest" {
			return v.Field(i), true
		}
	}
	return reflect.Value{}, false
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
	fields := Fields(cfg)
	byName := map[string]Field{}
	names := make([]string, 0, len(fields))
	for _, f := range fields {
		byName[f.Name] = f
		names = append(names, f.Name)
	}
	root := reflect.ValueOf(cfg).Elem()
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
		f, ok := byName[k]
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
		if err := decodeValue(root.FieldByIndex(f.index), params[k]); err != nil {
			errs = append(errs, FieldError{Field: k, Msg: err.Error()})
		}
	}
	if open && len(rest) > 0 {
		if rv, ok := restField(root); ok {
			rv.Set(reflect.ValueOf(rest))
		}
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
