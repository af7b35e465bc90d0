package authgen

import (
	"sync"
	"time"

	"github.com/buildfarm/buildfarm/shared/farm"
)

// Cache keeps values by key until their expiry, a bounded number of them,
// and forgets the ones a Watcher says changed. A value read from the store
// is put only if nothing was forgotten since the read began (Epoch): a
// read that raced a revocation never caches what it revoked.
type Cache[V any] struct {
	max   int
	keyOf func(farm.AuthChange) string // the key a change makes wrong ("": none)

	mu    sync.Mutex
	m     map[string]cacheEntry[V]
	epoch uint64
}

type cacheEntry[V any] struct {
	v       V
	expires time.Time
}

// NewCache returns a cache of at most max entries; keyOf names the entry a
// change makes wrong.
func NewCache[V any](max int, keyOf func(farm.AuthChange) string) *Cache[V] {
	return &Cache[V]{max: max, keyOf: keyOf, m: map[string]cacheEntry[V]{}}
}

// TokenKey is the key of a token cache: the revoked token's hash.
func TokenKey(c farm.AuthChange) string { return c.TokenHash }

// BuilderKey is the key of a builder cache: the changed builder's name.
func BuilderKey(c farm.AuthChange) string { return c.Builder }

// Get returns the value of key unless absent or expired at now.
func (c *Cache[V]) Get(key string, now time.Time) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[key]
	if !ok || !now.Before(e.expires) {
		var zero V
		return zero, false
	}
	return e.v, true
}

// Epoch is taken before reading a value from the store, and given to Put.
func (c *Cache[V]) Epoch() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.epoch
}

// Put keeps v for key until expires, unless the cache forgot anything
// since epoch. A full cache drops its expired entries, then, if still
// full, everything.
func (c *Cache[V]) Put(key string, v V, now, expires time.Time, epoch uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if epoch != c.epoch || !now.Before(expires) {
		return
	}
	if len(c.m) >= c.max {
		for k, e := range c.m {
			if !now.Before(e.expires) {
				delete(c.m, k)
			}
		}
		if len(c.m) >= c.max {
			clear(c.m)
		}
	}
	c.m[key] = cacheEntry[V]{v, expires}
}

// Drop forgets keys (a write through this process).
func (c *Cache[V]) Drop(keys ...string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.epoch++
	for _, k := range keys {
		delete(c.m, k)
	}
}

// Forget drops the entries the changes make wrong.
func (c *Cache[V]) Forget(changes []farm.AuthChange) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.epoch++
	for _, ch := range changes {
		if k := c.keyOf(ch); k != "" {
			delete(c.m, k)
		}
	}
}

// ForgetAll drops every entry.
func (c *Cache[V]) ForgetAll() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.epoch++
	clear(c.m)
}

// Len is the number of entries kept (expired ones included until dropped).
func (c *Cache[V]) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}
