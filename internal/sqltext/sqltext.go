// Package sqltext is the one place where identifiers and literals are put into SQL text (Spark
// SQL, PostgreSQL). Parameter values never reach SQL any other way: the seed's
// df.where(f"{k} = '{value}'") is an injection bug this package exists to prevent.
package sqltext

import (
	"fmt"
	"regexp"
	"strings"
)

var identRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// Ident quotes one identifier with backticks (Spark SQL), doubling embedded backticks. Empty
// names and names with NUL are rejected.
func Ident(name string) (string, error) {
	if name == "" || strings.ContainsRune(name, 0) {
		return "", fmt.Errorf("invalid identifier %q", name)
	}
	return "`" + strings.ReplaceAll(name, "`", "``") + "`", nil
}

// PGIdent quotes one identifier for PostgreSQL with double quotes.
func PGIdent(name string) (string, error) {
	if name == "" || strings.ContainsRune(name, 0) {
		return "", fmt.Errorf("invalid identifier %q", name)
	}
	return `"` + strings.ReplaceAll(name, `"`, `""`) + `"`, nil
}

// QualifiedName quotes a dotted table name part by part (`ns`.`table`); each part must be a plain
// identifier.
func QualifiedName(name string) (string, error) {
	parts := strings.Split(name, ".")
	out := make([]string, len(parts))
	for i, p := range parts {
		if !identRE.MatchString(p) {
			return "", fmt.Errorf("invalid table name %q: part %q is not an identifier", name, p)
		}
		out[i] = "`" + p + "`"
	}
	return strings.Join(out, "."), nil
}

// String quotes a string literal for Spark SQL: single quotes, with backslashes and quotes escaped
// (Spark SQL treats backslash as an escape character in string literals by default). NUL is
// rejected.
func String(v string) (string, error) {
	if strings.ContainsRune(v, 0) {
		return "", fmt.Errorf("string literal contains NUL")
	}
	r := strings.NewReplacer(`\`, `\\`, `'`, `\'`, "\n", `\n`, "\r", `\r`)
	return "'" + r.Replace(v) + "'", nil
}

// Equals renders `ident = 'literal'` safely.
func Equals(col, value string) (string, error) {
	c, err := Ident(col)
	if err != nil {
		return "", err
	}
	v, err := String(value)
	if err != nil {
		return "", err
	}
	return c + " = " + v, nil
}

// Idents quotes a list of identifiers and joins them with ", " (a column list).
func Idents(names []string) (string, error) {
	out := make([]string, len(names))
	for i, n := range names {
		q, err := Ident(n)
		if err != nil {
			return "", err
		}
		out[i] = q
	}
	return strings.Join(out, ", "), nil
}
