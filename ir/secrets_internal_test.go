package ir

import "testing"

func TestNamesSecretMatchesRegexp(t *testing.T) {
	for _, k := range []string{"password", "db_PASSWORD", "Passwd", "client_secret", "token", "API_KEY", "apikey", "api-key",
		"AccessKey", "access_key", "private_key", "privateKey", "credentials", "path", "table", "tok", "keys", "pass_word",
		"ſecret", "to\u212aen", "naïve_password", "日本"} {
		if got, want := namesSecret(k), secretKeyRE.MatchString(k); got != want {
			t.Errorf("namesSecret(%q) = %v, regexp says %v", k, got, want)
		}
	}
}
