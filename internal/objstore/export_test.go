package objstore

// SetHardLink replaces os.Link in the file driver's copy for one test (to reach the fallback
// a second file system or a file system without hard links takes).
func SetHardLink(f func(oldname, newname string) error) (restore func()) {
	old := hardLink
	hardLink = f
	return func() { hardLink = old }
}
