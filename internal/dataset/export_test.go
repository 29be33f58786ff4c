package dataset

// SetParallelColumns turns the concurrent column encoder of flat Parquet schemas on or off
// for one test.
func SetParallelColumns(on bool) (restore func()) {
	old := parallelColumns
	parallelColumns = on
	return func() { parallelColumns = old }
}
