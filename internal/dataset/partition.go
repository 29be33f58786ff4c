package dataset

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/aiflow-dev/aiflow/fault"
)

// NullPartition is the directory value of a null (or empty) partition value, as Hive and Spark
// write it; it reads back as null.
const NullPartition = "__HIVE_DEFAULT_PARTITION__"

// ValidatePartitionValue rejects a partition value given by a user (a filter) that could change
// the meaning of a path: empty, ".", "..", or containing '/', '\', NUL, a quote or a control
// character. The error is fault.Config.
func ValidatePartitionValue(key, v string) error {
	if err := validatePartitionKey(key); err != nil {
		return err
	}
	if v == "" || v == "." || v == ".." {
		return fault.Configf("invalid partition value %s=%q", key, v)
	}
	for _, r := range v {
		if r == '/' || r == '\\' || r == '\'' || r == '"' || r < 0x20 || r == 0x7f {
			return fault.Configf("invalid partition value %s=%q: %q is not allowed", key, v, r)
		}
	}
	return nil
}

func validatePartitionKey(k string) error {
	if k == "" || k == "." || k == ".." || strings.ContainsAny(k, "/\\='\"\x00") {
		return fault.Configf("invalid partition column name %q", k)
	}
	for _, r := range k {
		if r < 0x20 || r == 0x7f {
			return fault.Configf("invalid partition column name %q", k)
		}
	}
	return nil
}

// escapePartitionValue percent-encodes a value taken from the data for use as one path segment,
// as Hive does; '/', '\', '.'-only values and friends can never form a path escape. Empty and
// null values become NullPartition.
func escapePartitionValue(v string, null bool) string {
	if null || v == "" {
		return NullPartition
	}
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c < 0x20 || c == 0x7f || strings.IndexByte("\"#%'*/:=?\\{[]^|<>", c) >= 0 {
			fmt.Fprintf(&b, "%%%02X", c)
			continue
		}
		b.WriteByte(c)
	}
	s := b.String()
	if s == "." || s == ".." {
		s = strings.ReplaceAll(s, ".", "%2E")
	}
	return s
}

// partitionSegment renders the folder of one partition value: key=escaped.
func partitionSegment(key, val string, null bool) string {
	return key + "=" + escapePartitionValue(val, null)
}

// parsePartitions extracts Hive key=value pairs from the folders of rel (a path relative to the
// dataset root). Values are unescaped; NullPartition gives a nil entry in nulls.
func parsePartitions(rel string) (keys []string, vals map[string]string, nulls map[string]bool, err error) {
	segs := strings.Split(rel, "/")
	for _, seg := range segs[:len(segs)-1] {
		k, v, ok := strings.Cut(seg, "=")
		if !ok || k == "" {
			continue // a plain folder: not a partition level
		}
		if vals == nil {
			vals, nulls = map[string]string{}, map[string]bool{}
		}
		if _, dup := vals[k]; dup {
			return nil, nil, nil, fault.Dataf("partition column %s appears twice in %s", k, rel)
		}
		if v == NullPartition {
			nulls[k] = true
			vals[k] = ""
		} else {
			u, uerr := url.PathUnescape(v)
			if uerr != nil {
				u = v
			}
			vals[k] = u
		}
		keys = append(keys, k)
	}
	return keys, vals, nulls, nil
}
