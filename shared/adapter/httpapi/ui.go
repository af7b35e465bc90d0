package httpapi

import (
	"net/http"

	"github.com/buildfarm/buildfarm/shared/adapter/webui"
	"github.com/buildfarm/buildfarm/shared/farm"
)

// uiRoutes serve the web status page (shared/webui). The page is public;
// everything it shows comes from the API with the caller's token.
func (s *Server) uiRoutes() []route {
	return []route{
		{"GET", "/ui", public, s.uiRedirect},
		{"GET", "/ui/{$}", public, s.uiPage},
		{"GET", "/ui/{asset}", public, s.uiAsset},
	}
}

func (s *Server) uiRedirect(w http.ResponseWriter, r *http.Request) error {
	http.Redirect(w, r, "/ui/", http.StatusMovedPermanently)
	return nil
}

func (s *Server) uiPage(w http.ResponseWriter, r *http.Request) error {
	webui.Serve(w, r, webui.Index)
	return nil
}

func (s *Server) uiAsset(w http.ResponseWriter, r *http.Request) error {
	if !webui.Serve(w, r, r.PathValue("asset")) {
		return farm.Errorf(farm.ENotFound, "the page has no file %q", clip(r.PathValue("asset")))
	}
	return nil
}
