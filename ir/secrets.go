package ir

import (
	"regexp"
	"sort"
	"strings"
	"unicode/utf8"
)

// Secret values never enter the IR (ARCHITECTURE §3): params reference them, as
// {"secret": "name/key"} (a Kubernetes Secret key, mounted or in the environment) or as "${ENV}".
var (
	envRefRE     = regexp.MustCompile(`^\$\{[A-Za-z_][A-Za-z0-9_]*\}$`)
	secretKeyRE  = regexp.MustCompile(`(?i)(password|passwd|secret|token|api_?key|access_?key|private_?key|credential)`)
	secretNameRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?/[-._a-zA-Z0-9]+$`)
)

// IsSecretRef reports whether v is a secret reference rather than a value.
func IsSecretRef(v any) bool {
	switch x := v.(type) {
	case string:
		return envRefRE.MatchString(x)
	case map[string]any:
		ref, ok := x["secret"].(string)
		return ok && len(x) == 1 && secretNameRE.MatchString(ref)
	}
	return false
}

// secretLiterals returns the paths of params whose key names a secret but whose value is a
// literal string instead of a reference.
func secretLiterals(path string, v any) []string {
	var out []string
	switch x := v.(type) {
	case map[string]any:
		if IsSecretRef(x) {
			return nil
		}
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			p := joinPath(path, k)
			if s, ok := x[k].(string); ok && s != "" && namesSecret(k) && !IsSecretRef(s) && !strings.Contains(s, "{{") {
				out = append(out, p)
				continue
			}
			out = append(out, secretLiterals(p, x[k])...)
		}
	case []any:
		for _, e := range x {
			out = append(out, secretLiterals(path, e)...)
		}
	}
	return out
}

// secretWords are what secretKeyRE matches, for the ASCII fast path of namesSecret.
var secretWords = []string{"password", "passwd", "secret", "token", "apikey", "api_key", "accesskey", "access_key", "privatekey", "private_key", "credential"}

// namesSecret reports whether a params key names a secret (secretKeyRE), without a regexp for
// plain ASCII keys: every string of every node passes here on each validate.
func namesSecret(k string) bool {
	for i := 0; i < len(k); i++ {
		if k[i] >= utf8.RuneSelf {
			return secretKeyRE.MatchString(k) // Unicode case folding: let the regexp decide
		}
	}
	l := strings.ToLower(k)
	for _, w := range secretWords {
		if strings.Contains(l, w) {
			return true
		}
	}
	return false
}
