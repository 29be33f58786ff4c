package dataset

import (
	"context"

	"github.com/aiflow-dev/aiflow/internal/objstore"
)

// CSVHeader reads the header of a CSV file (gunzipped when it ends in .gz): its column names in
// the file's order. An engine that maps a declared schema by position (Spark's CSV reader) orders
// the declared columns with it.
func CSVHeader(ctx context.Context, st *objstore.Store, uri string) ([]string, error) {
	rc, _, err := st.GetStream(ctx, uri)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	br, err := textReader(rc, uri)
	if err != nil {
		return nil, err
	}
	header, _, err := peekCSV(br, 0, uri)
	return header, err
}
