package ir

import "testing"

func TestNamesSecretMatchesRegexp(t *testing.T) {
	for _, k := range []string{"password", "db_PASSWORD", "Passwd", "client_secret", "token", "API_KEY", "apikey", "api-key",
		"AccessKey", "access_key", "private_key", "privateKey", "credentials", "path", "table", "tok", "keys", "pass_word",
		"ſecret", "to\u212aen", "naïve_password", "日本",
		"db_pass", "pass", "PASS", "pass-2", "bypass", "passenger", "pwd", "userPwd", "passphrase", "compass_pass", "ïpass"} {
		if got, want := namesSecret(k), secretKeyRE.MatchString(k); got != want {
			t.Errorf("namesSecret(%q) = %v, regexp says %v", k, got, want)
		}
	}
}

// Secret values in any shape are refused: numbers, lists and mappings under a secret-named key,
// *_pass and pwd keys, and passwords inside a URL's userinfo; references, templates, null and
// booleans are not values.
func TestSecretLiterals(t *testing.T) {
	for _, c := range []struct {
		params map[string]any
		want   int
	}{
		{map[string]any{"password": 12345678.0}, 1},
		{map[string]any{"api_key": []any{"abc", "def"}}, 1},
		{map[string]any{"credentials": map[string]any{"user": "me", "key": "abcdef"}}, 1},
		{map[string]any{"db_pass": "hunter22"}, 1},
		{map[string]any{"pwd": "hunter22"}, 1},
		{map[string]any{"brokers": "sasl://user:hunter22@kafka:9092"}, 1},
		{map[string]any{"options": map[string]any{"url": "postgres://app:s3cr3t@db/x"}}, 1},
		{map[string]any{"password": "${DB_PASSWORD}"}, 0},
		{map[string]any{"password": map[string]any{"secret": "db/password"}}, 0},
		{map[string]any{"api_keys": []any{"${A}", map[string]any{"secret": "a/b"}}}, 0},
		{map[string]any{"token": nil, "use_token": true, "password": ""}, 0},
		{map[string]any{"url": "postgres://app@db/x", "dsn": "postgres://app:${PW}@db/x"}, 0},
		{map[string]any{"bypass": "x", "passenger_count": 3.0}, 0},
	} {
		if got := secretLiterals("", c.params); len(got) != c.want {
			t.Errorf("%v: flagged %v, want %d", c.params, got, c.want)
		}
	}
}

// Template values in an expression are literals: a quote in a value cannot end the string it
// lands in, and a value outside quotes is a literal, not code.
func TestRenderExprLiterals(t *testing.T) {
	vars := TemplateVars{Params: map[string]string{"st": "x' OR '1'='1", "n": "42", "bs": `a\' OR 1=1 --`, "col": "amount"}}
	for _, c := range []struct {
		src  string
		d    Dialect
		want string
	}{
		{"status = '{{ params.st }}'", ArrowExpr, "status = 'x'' OR ''1''=''1'"},
		{"status = {{ params.st }}", ArrowExpr, "status = 'x'' OR ''1''=''1'"},
		{"amount > {{ params.n }}", ArrowExpr, "amount > 42"},
		{"x = '{{ params.bs }}'", SparkSQL, `x = 'a\\\' OR 1=1 --'`},
		{"x = '{{ params.st }}'", SparkSQL, `x = 'x\' OR \'1\'=\'1'`},
		{"x = 'it''s {{ params.n }}'", ArrowExpr, "x = 'it''s 42'"},
		{"{{ params.col }} > 0", ArrowExpr, "'amount' > 0"},
	} {
		got, err := RenderExpr(c.src, vars, c.d)
		if err != nil || got != c.want {
			t.Errorf("RenderExpr(%q) = %q, %v; want %q", c.src, got, err, c.want)
		}
	}
	if _, err := RenderExpr(`"{{ params.st }}" = 1`, vars, SparkSQL); err != nil {
		t.Errorf("a value without the identifier's quote is allowed: %v", err)
	}
	if _, err := RenderExpr("`{{ params.bs }}` = 1", vars, SparkSQL); err == nil {
		t.Error("a value with a backslash inside a quoted name was accepted")
	}
}
