// Package webui is the farm's web status page: a small static page (HTML,
// CSS and plain JavaScript, embedded in the binary; no build step) that
// calls the HTTP API with the same bearer tokens as every other client. The
// API handler serves it under /ui/, so it runs wherever the API runs: in
// the api Lambda behind API Gateway and in the local farm.
//
// The page never puts data into HTML as markup: everything it shows is set
// as text (textContent), so a payload or a log line holding markup is shown,
// not run. The Content-Security-Policy it is served with allows scripts and
// styles from the page's own origin only, and requests to the API there.
package webui

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
)

//go:embed assets
var assets embed.FS

// ContentSecurityPolicy is sent with every file of the page: no inline
// script or style, nothing from other origins, no plugins, no framing, no
// form submissions (the page sends its own requests).
const ContentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// Index is the page's entry file.
const Index = "index.html"

type file struct {
	body        []byte
	contentType string
	etag        string
}

// files are the page's files, read once when the program starts; never
// written after.
var files = load()

func load() map[string]file {
	files := map[string]file{}
	entries, err := fs.ReadDir(assets, "assets")
	if err != nil {
		panic("webui: embedded assets: " + err.Error())
	}
	for _, e := range entries {
		body, err := assets.ReadFile("assets/" + e.Name())
		if err != nil {
			panic("webui: embedded assets: " + err.Error())
		}
		sum := sha256.Sum256(body)
		ct, ok := contentTypes[path.Ext(e.Name())]
		if !ok {
			panic("webui: no content type for " + e.Name())
		}
		files[e.Name()] = file{body: body, contentType: ct, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
	}
	return files
}

// Names lists the page's files.
func Names() []string {
	out := make([]string, 0, len(files))
	for n := range files {
		out = append(out, n)
	}
	return out
}

// Serve writes the page's file name with its security headers and reports
// whether it exists (it writes nothing when it does not).
func Serve(w http.ResponseWriter, r *http.Request, name string) bool {
	f, ok := files[name]
	if !ok {
		return false
	}
	h := w.Header()
	h.Set("Content-Security-Policy", ContentSecurityPolicy)
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Content-Type", f.contentType)
	// The files change only with the binary: revalidate, cheaply.
	h.Set("Cache-Control", "no-cache")
	h.Set("ETag", f.etag)
	if r.Header.Get("If-None-Match") == f.etag {
		w.WriteHeader(http.StatusNotModified)
		return true
	}
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write(f.body)
	}
	return true
}

// contentTypes are fixed here rather than read from the host's MIME
// tables, which differ between machines.
var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".svg":  "image/svg+xml",
}
