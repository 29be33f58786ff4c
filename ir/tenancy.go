package ir

import (
	"regexp"
	"sort"
	"strings"
)

// DefaultEnvs are the environments a pipeline may name when no other set is configured.
var DefaultEnvs = []string{"dev", "staging", "prod"}

// TenancyTags turns the tenancy fields into key:value tags merged with the given tags,
// deduplicated and sorted, so the tag list is canonical whatever the author wrote.
func TenancyTags(tags []string, extra map[string]any) []string {
	set := map[string]bool{}
	for _, t := range tags {
		set[t] = true
	}
	for _, k := range TenancyKeys {
		if v, ok := extra[k].(string); ok && v != "" {
			set[k+":"+v] = true
		}
	}
	out := make([]string, 0, len(set))
	for t := range set {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

// CheckTenancy applies the tenancy rules: env is one of envs; prod pipelines name team and owner.
func (p *Pipeline) CheckTenancy(envs []string) Problems {
	if len(envs) == 0 {
		envs = DefaultEnvs
	}
	var ps Problems
	add := func(field, msg string) { ps = append(ps, Problem{Pipeline: p.ID, Msg: msg, field: field}) }
	env := p.Tenant("env")
	if env == "" {
		add("", "env is required (one of "+strings.Join(envs, ", ")+")")
	} else if !contains(envs, env) {
		add("env", "env "+quote(env)+" is not one of "+strings.Join(envs, ", ")+suggest(env, envs))
	}
	if env == "prod" {
		if p.Tenant("team") == "" {
			add("env", "a prod pipeline must name its team")
		}
		if p.Owner == "" {
			add("env", "a prod pipeline must name its owner")
		}
	}
	for _, k := range TenancyKeys {
		if v, ok := p.Extra[k]; ok && v != nil {
			if _, isStr := v.(string); !isStr {
				add(k, k+" must be a string or null")
			}
		}
	}
	return ps
}

func quote(s string) string { return `"` + s + `"` }

// labelUnsafe matches what a Kubernetes label value or Prometheus label may not contain.
var labelUnsafe = regexp.MustCompile(`[^A-Za-z0-9_.-]`)

// LabelValue makes s safe as a Kubernetes label value: at most 63 characters of [A-Za-z0-9_.-],
// beginning and ending with an alphanumeric character.
func LabelValue(s string) string {
	s = labelUnsafe.ReplaceAllString(s, "_")
	if len(s) > 63 {
		s = s[:63]
	}
	return strings.Trim(s, "_.-")
}
