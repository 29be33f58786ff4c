package plugin

import (
	"path"
	"strings"
)

// Untemplated cuts s before its first template ({{ ds }}), back to the last "/" or "." before
// it: an Airflow Asset names the dataset, not one run's partition.
func Untemplated(s string) string {
	i := strings.Index(s, "{{")
	if i < 0 {
		return s
	}
	s = s[:i]
	if j := strings.LastIndexAny(s, "/."); j >= 0 {
		return s[:j]
	}
	return ""
}

// PathAsset is the Asset URI of a file:// or s3:// path or a local path, templates cut off
// ("" for none). Custom stores use x- schemes, which Airflow does not validate.
func PathAsset(p string) string {
	p = Untemplated(p)
	if p == "" {
		return ""
	}
	if i := strings.Index(p, "://"); i > 0 {
		return strings.TrimRight(p, "/")
	}
	if strings.HasPrefix(p, "/") {
		return "file://" + path.Clean(p)
	}
	// A path relative to the runner's working directory: not a URL Airflow knows.
	return "x-aiflow-files:" + path.Clean(p)
}
