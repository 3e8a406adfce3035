package expr

// System.Random: new Random() and Next. The numbers come from the
// operating system's generator (crypto/rand), never from a seed a policy
// could guess; new Random(seed), whose sequence .NET fixes, is refused.

import (
	"crypto/rand"
	"encoding/binary"
	"math"
)

// randomGen is a Random; all of them draw from crypto/rand.
type randomGen struct{}

// uniform returns a number in [0, n) without modulo bias (n > 0).
func uniform(n uint64) uint64 {
	limit := math.MaxUint64 - math.MaxUint64%n
	var b [8]byte
	for {
		_, _ = rand.Read(b[:])
		if v := binary.LittleEndian.Uint64(b[:]); v < limit {
			return v % n
		}
	}
}

// next is Random.Next(), Next(max) and Next(min, max), as .NET documents
// them: [0, int.MaxValue), [0, max), [min, max); an empty range gives its
// lower bound.
func next(a []any) (any, error) {
	lo, hi := int64(0), int64(math.MaxInt32)
	switch len(a) {
	case 1:
		hi = a[0].(int64)
		if hi < 0 {
			return nil, rtErr("'maxValue' must be a non-negative value. (Parameter 'maxValue')")
		}
	case 2:
		lo, hi = a[0].(int64), a[1].(int64)
		if lo > hi {
			return nil, rtErr("'minValue' cannot be greater than maxValue. (Parameter 'minValue')")
		}
	}
	if hi == lo {
		return lo, nil
	}
	return lo + int64(uniform(uint64(hi-lo))), nil
}

func randomMembers() {
	staticClasses["Random"] = true
	newObjectsCustom["Random"] = func(c *compiler, n *callNode, recv value, args []node) (value, error) {
		if len(args) > 0 {
			return value{}, errAt(n, "new Random(seed) is not supported: its numbers would repeat; use new Random()")
		}
		return constant(randomType, randomGen{}), nil
	}
	methods[randomType] = map[string]method{
		"Next": simple(Int, 0, []Type{Int, Int}, func(_ *frame, _ any, a []any) (any, error) { return next(a) }),
	}
}
