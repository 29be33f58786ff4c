package ir

import (
	"regexp"
	"sort"
	"strings"
	"unicode/utf8"
)

// Secret values never enter the IR: params reference them, as
// {"secret": "name/key"} (a Kubernetes Secret key, mounted or in the environment) or as "${ENV}".
var (
	envRefRE    = regexp.MustCompile(`^\$\{[A-Za-z_][A-Za-z0-9_]*\}$`)
	secretKeyRE = regexp.MustCompile(`(?i)(password|passwd|passphrase|pwd|secret|token|api_?key|access_?key|private_?key|credential|(^|[^a-z])pass($|[^a-z]))`)
	// userinfoRE finds a password in a URL's userinfo (scheme://user:password@host).
	userinfoRE   = regexp.MustCompile(`[A-Za-z][A-Za-z0-9+.-]*://[^/?#@\s:]*:([^/?#@\s]+)@`)
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

// secretLiterals returns the paths of params that hold a secret value instead of a reference:
// any value but a reference, a template or null under a key that names a secret (a string, a
// number, a list, a mapping), and any string with a password in a URL's userinfo.
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
			if namesSecret(k) && literalSecret(x[k]) {
				out = append(out, p)
				continue
			}
			out = append(out, secretLiterals(p, x[k])...)
		}
	case []any:
		for _, e := range x {
			out = append(out, secretLiterals(path, e)...)
		}
	case string:
		if m := userinfoRE.FindStringSubmatch(x); m != nil && !isReferenceOrTemplate(m[1]) {
			out = append(out, path)
		}
	}
	return out
}

// literalSecret reports whether v, found under a key that names a secret, is a value rather
// than a reference: a non-empty string that is neither a reference nor a template, a number, or
// a list or mapping that is not made of references. Null, empty and booleans (use_token: true)
// are settings, not secrets.
func literalSecret(v any) bool {
	switch x := v.(type) {
	case nil, bool:
		return false
	case string:
		return x != "" && !isReferenceOrTemplate(x)
	case []any:
		for _, e := range x {
			if literalSecret(e) {
				return true
			}
		}
		return false
	case map[string]any:
		if IsSecretRef(x) || len(x) == 0 {
			return false
		}
		for _, e := range x {
			if _, ok := e.(bool); !ok && e != nil {
				if s, ok := e.(string); ok && (s == "" || isReferenceOrTemplate(s)) {
					continue
				}
				if m, ok := e.(map[string]any); ok && IsSecretRef(m) {
					continue
				}
				return true
			}
		}
		return false
	}
	return true // numbers
}

func isReferenceOrTemplate(s string) bool {
	return IsSecretRef(s) || strings.Contains(s, "{{") || strings.Contains(s, "${")
}

// secretWords are what secretKeyRE matches, for the ASCII fast path of namesSecret.
var secretWords = []string{"password", "passwd", "passphrase", "pwd", "secret", "token", "apikey", "api_key", "accesskey", "access_key", "privatekey", "private_key", "credential"}

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
	// "pass" as a word of its own: db_pass, pass, PASS-2, not bypass or passenger.
	for i := 0; ; {
		j := strings.Index(l[i:], "pass")
		if j < 0 {
			return false
		}
		j += i
		before := j == 0 || !isLower(l[j-1])
		after := j+4 == len(l) || !isLower(l[j+4])
		if before && after {
			return true
		}
		i = j + 1
	}
}

func isLower(c byte) bool { return c >= 'a' && c <= 'z' }
