package farm

import (
	"slices"
	"strings"
)

// Pools is the set of builder pools a farm serves, in the order they were
// configured. The zero Pools serves none.
type Pools struct {
	list []string
	set  map[string]bool
}

// NewPools returns the set of names (duplicates dropped).
func NewPools(names []string) Pools {
	p := Pools{set: map[string]bool{}}
	for _, n := range names {
		if !p.set[n] {
			p.set[n] = true
			p.list = append(p.list, n)
		}
	}
	return p
}

// Serves reports whether the farm serves pool.
func (p Pools) Serves(pool string) bool { return p.set[pool] }

// List returns the pools, in order.
func (p Pools) List() []string { return slices.Clone(p.list) }

// String lists the pools for error messages ("default, amd64").
func (p Pools) String() string { return strings.Join(p.list, ", ") }
