package tokens

import (
	"sync"
	"time"

	"github.com/buildfarm/buildfarm/shared/farm"
)

// maxCachedTokens bounds the cache; past it, expired entries are dropped
// and, if still full, the cache starts afresh.
const maxCachedTokens = 4096

// tokenCache remembers principals of known token hashes for a while.
type tokenCache struct {
	mu      sync.Mutex
	entries map[string]cachedPrincipal
}

type cachedPrincipal struct {
	p       farm.Principal
	expires time.Time
}

func (c *tokenCache) get(hash string, now time.Time) (farm.Principal, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[hash]
	if !ok || !now.Before(e.expires) {
		return farm.Principal{}, false
	}
	return e.p, true
}

func (c *tokenCache) put(hash string, p farm.Principal, now, expires time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil {
		c.entries = map[string]cachedPrincipal{}
	}
	if len(c.entries) >= maxCachedTokens {
		for h, e := range c.entries {
			if !now.Before(e.expires) {
				delete(c.entries, h)
			}
		}
		if len(c.entries) >= maxCachedTokens {
			c.entries = map[string]cachedPrincipal{}
		}
	}
	c.entries[hash] = cachedPrincipal{p, expires}
}

func (c *tokenCache) evict(hash string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.entries, hash)
}
