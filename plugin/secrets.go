package plugin

import (
	"reflect"
	"regexp"
)

var secretType = reflect.TypeOf(Secret{})

// SecretsIn returns every Secret reference a decoded config holds, at any depth (fields,
// pointers, slices, maps), and every secret reference written in its free-form params (a
// `plugin:"rest"` map: "${ENV}" or {secret: name/key}). The runner resolves them all when a node
// starts, so that each value is registered with the redactor before anything can print it.
func SecretsIn(cfg any) []Secret {
	var out []Secret
	walkSecrets(reflect.ValueOf(cfg), &out)
	return out
}

func walkSecrets(v reflect.Value, out *[]Secret) {
	if !v.IsValid() {
		return
	}
	if v.Type() == secretType {
		if s := v.Interface().(Secret); !s.IsZero() {
			*out = append(*out, s)
		}
		return
	}
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			walkSecrets(v.Elem(), out)
		}
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if v.Type().Field(i).IsExported() {
				walkSecrets(v.Field(i), out)
			}
		}
	case reflect.Slice, reflect.Array:
		for i := 0; i < v.Len(); i++ {
			walkSecrets(v.Index(i), out)
		}
	case reflect.Map:
		it := v.MapRange()
		for it.Next() {
			walkSecrets(it.Value(), out)
		}
	case reflect.String:
		if m := envRef.FindStringSubmatch(v.String()); m != nil {
			*out = append(*out, Secret{Env: m[1]})
		}
	}
	if v.Kind() == reflect.Map && v.Type().Key().Kind() == reflect.String && v.Len() == 1 {
		if ref := v.MapIndex(reflect.ValueOf("secret")); ref.IsValid() {
			if s, ok := ref.Interface().(string); ok && secretRefRE.MatchString(s) {
				*out = append(*out, Secret{Ref: s})
			}
		}
	}
}

var secretRefRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?/[-._a-zA-Z0-9]+$`)

// ResolveRefs returns v with every secret reference in it ("${ENV}" strings and
// {secret: name/key} mappings, at any depth) replaced by the secret's value; resolved receives
// each value first. Free-form params handed to user code (the python engine's) go through it,
// so user code sees values, never "${...}". secretsDir is where Secret volumes are mounted
// (Secret.Resolve).
func ResolveRefs(v any, secretsDir string, resolved func(...string)) (any, error) {
	switch x := v.(type) {
	case string:
		if m := envRef.FindStringSubmatch(x); m != nil {
			val, err := Secret{Env: m[1]}.Resolve(secretsDir)
			if err != nil {
				return nil, err
			}
			resolved(val)
			return val, nil
		}
		return x, nil
	case map[string]any:
		if ref, ok := x["secret"].(string); ok && len(x) == 1 && secretRefRE.MatchString(ref) {
			val, err := Secret{Ref: ref}.Resolve(secretsDir)
			if err != nil {
				return nil, err
			}
			resolved(val)
			return val, nil
		}
		out := make(map[string]any, len(x))
		for k, e := range x {
			r, err := ResolveRefs(e, secretsDir, resolved)
			if err != nil {
				return nil, err
			}
			out[k] = r
		}
		return out, nil
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			r, err := ResolveRefs(e, secretsDir, resolved)
			if err != nil {
				return nil, err
			}
			out[i] = r
		}
		return out, nil
	}
	return v, nil
}

// ResolveSecret returns the secret's value (Secret.Resolve, with the mounted secrets under
// AIFLOW_SECRETS_DIR) and registers it with the redactor first, so that no log line, error or
// lineage event the runtime writes afterwards can carry it.
func (e *Env) ResolveSecret(s Secret) (string, error) {
	dir := ""
	if e.Config != nil {
		dir = e.Config.SecretsDir
	}
	v, err := s.Resolve(dir)
	if err != nil {
		return "", err
	}
	if e.Redact != nil {
		e.Redact.Add(v)
	}
	return v, nil
}
