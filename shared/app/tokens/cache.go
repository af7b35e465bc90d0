package tokens

// maxCachedTokens bounds the token cache (authgen.Cache); past it, expired
// entries are dropped and, if still full, the cache starts afresh.
const maxCachedTokens = 4096
