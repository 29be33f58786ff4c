package contract

// u64Set is a set of 64-bit keys for the uniqueness check, which inserts one key per row.
// Keys are mostly ids from a dense range: those in the aligned window of 2^27 values around the
// first key go to a bitmap (one bit each, grown as needed, at most 16 MiB), which stays in cache
// where a hash table would miss it on every row. Other keys go to an open-addressing table
// (linear probing, at most half full).
type u64Set struct {
	window  uint64 // k>>windowBits of the bitmap's keys
	started bool
	bits    []uint64

	slots   []uint64 // 0 = empty; key 0 is kept in hasZero
	n       int
	shift   uint
	hasZero bool
}

const windowBits = 27

func newU64Set() *u64Set { return &u64Set{slots: make([]uint64, 1<<10), shift: 64 - 10} }

// add inserts k and reports whether it was already there.
func (s *u64Set) add(k uint64) bool {
	if !s.started {
		s.window, s.started = k>>windowBits, true
	}
	if k>>windowBits == s.window {
		off := k & (1<<windowBits - 1)
		w := int(off >> 6)
		if w >= len(s.bits) {
			s.bits = append(s.bits, make([]uint64, max(w+1, 2*len(s.bits), 1024)-len(s.bits))...)
		}
		m := uint64(1) << (off & 63)
		had := s.bits[w]&m != 0
		s.bits[w] |= m
		return had
	}
	if k == 0 {
		had := s.hasZero
		s.hasZero = true
		return had
	}
	mask := uint64(len(s.slots) - 1)
	for i := (k * 0x9E3779B97F4A7C15) >> s.shift; ; i = (i + 1) & mask {
		switch s.slots[i] {
		case 0:
			s.slots[i] = k
			s.n++
			if 2*s.n > len(s.slots) {
				s.grow()
			}
			return false
		case k:
			return true
		}
	}
}

func (s *u64Set) grow() {
	old := s.slots
	s.slots = make([]uint64, 2*len(old))
	s.shift--
	mask := uint64(len(s.slots) - 1)
	for _, k := range old {
		if k == 0 {
			continue
		}
		i := (k * 0x9E3779B97F4A7C15) >> s.shift
		for s.slots[i] != 0 {
			i = (i + 1) & mask
		}
		s.slots[i] = k
	}
}

// u128Set is u64Set for 128-bit hashes of composite keys; the first word picks the slot.
type u128Set struct {
	slots [][2]uint64 // {0, 0} = empty; a zero hash is stored as {1, 0}
	n     int
	shift uint
}

func newU128Set() *u128Set { return &u128Set{slots: make([][2]uint64, 1<<16), shift: 64 - 16} }

func (s *u128Set) add(k [2]uint64) bool {
	if k == [2]uint64{} {
		k[0] = 1
	}
	mask := uint64(len(s.slots) - 1)
	for i := (k[0] * 0x9E3779B97F4A7C15) >> s.shift; ; i = (i + 1) & mask {
		switch s.slots[i] {
		case [2]uint64{}:
			s.slots[i] = k
			s.n++
			if 2*s.n > len(s.slots) {
				s.grow()
			}
			return false
		case k:
			return true
		}
	}
}

func (s *u128Set) grow() {
	old := s.slots
	s.slots = make([][2]uint64, 2*len(old))
	s.shift--
	mask := uint64(len(s.slots) - 1)
	for _, k := range old {
		if k == [2]uint64{} {
			continue
		}
		i := (k[0] * 0x9E3779B97F4A7C15) >> s.shift
		for s.slots[i] != [2]uint64{} {
			i = (i + 1) & mask
		}
		s.slots[i] = k
	}
}
