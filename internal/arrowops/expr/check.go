package expr

import (
	"fmt"
	"slices"
	"strings"

	"github.com/aiflow-dev/aiflow/ir"
)

// Check parses src and checks what needs no schema: the syntax, every literal (a date that
// does not exist, an integer out of range), every function's name and argument count. Column
// references and types are left to Compile, which needs the input's schema; validate runs Check
// on every expression whose input schema it does not know, so a broken expression fails there
// and not in the pod.
func Check(src string) error {
	n, err := Parse(src)
	if err != nil {
		return err
	}
	b := &binder{src: src, seen: map[string]bool{}}
	return b.check(n)
}

// arity is the argument count of each scalar function; -1: one or more.
var arity = map[string]int{"abs": 1, "coalesce": -1, "length": 1, "lower": 1, "upper": 1}

func (b *binder) check(n Node) error {
	switch x := n.(type) {
	case *Lit:
		_, err := b.bindLit(x)
		return err
	case *Unary:
		return b.check(x.X)
	case *Binary:
		if err := b.check(x.L); err != nil {
			return err
		}
		return b.check(x.R)
	case *IsNull:
		return b.check(x.X)
	case *In:
		for _, e := range append([]Node{x.X}, x.List...) {
			if err := b.check(e); err != nil {
				return err
			}
		}
	case *Call:
		if x.Star {
			return b.errAt(x.At, "%s(*) is only valid as an aggregate", x.Name)
		}
		want, ok := arity[x.Name]
		switch {
		case !ok:
			return b.errAt(x.At, "unknown function %s%s (known: %s)", x.Name, FunctionHint(x.Name), strings.Join(Functions, ", "))
		case want < 0 && len(x.Args) == 0:
			return b.errAt(x.At, "%s needs at least one argument", x.Name)
		case want >= 0 && len(x.Args) != want:
			return b.errAt(x.At, "%s takes %d argument(s), got %d", x.Name, want, len(x.Args))
		}
		for _, a := range x.Args {
			if err := b.check(a); err != nil {
				return err
			}
		}
	}
	return nil
}

// CheckColumns reports the first column src names that is not one of cols, with the nearest
// one and the list: what validate can check of an expression whose input's column names are
// known but not their types (after a group_by or a select, when no input declares its columns).
// src must parse (Check reports it when it does not).
func CheckColumns(src string, cols []string) error {
	n, err := Parse(src)
	if err != nil {
		return err
	}
	var bad *Ident
	walkIdents(n, func(id *Ident) {
		if bad == nil && !slices.Contains(cols, id.Name) {
			bad = id
		}
	})
	if bad == nil {
		return nil
	}
	hint := ir.Suggest(bad.Name, cols)
	if hint == "" && bad.Quoted {
		hint = fmt.Sprintf(" (a string literal takes single quotes: '%s')", strings.ReplaceAll(bad.Name, "'", "''"))
	}
	names := make([]string, len(cols))
	for i, c := range cols {
		names[i] = quoteIdent(c)
	}
	b := &binder{src: src}
	return b.errAt(bad.At, "unknown column %s%s (available: %s)", quoteIdent(bad.Name), hint, strings.Join(names, ", "))
}

// walkIdents calls f for every column reference of n, left to right.
func walkIdents(n Node, f func(*Ident)) {
	switch x := n.(type) {
	case *Ident:
		f(x)
	case *Unary:
		walkIdents(x.X, f)
	case *Binary:
		walkIdents(x.L, f)
		walkIdents(x.R, f)
	case *IsNull:
		walkIdents(x.X, f)
	case *In:
		walkIdents(x.X, f)
		for _, e := range x.List {
			walkIdents(e, f)
		}
	case *Call:
		for _, a := range x.Args {
			walkIdents(a, f)
		}
	}
}
