package faultproxy

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
)

// ControlPrefix is the path of the control endpoints (Options.Control):
//
//	GET  /__faultproxy/counts  -> [{"service","operation",...counters}]
//	GET  /__faultproxy/spec    -> the spec in force
//	PUT  /__faultproxy/spec    <- a spec (JSON); replaces the rules
//	POST /__faultproxy/outage  <- {"duration":"20s","mode":"errors|refuse","services":[...]}
const ControlPrefix = "/__faultproxy/"

func isControl(r *http.Request) bool { return strings.HasPrefix(r.URL.Path, ControlPrefix) }

// CountLine is one line of GET /__faultproxy/counts.
type CountLine struct {
	Key
	Count
}

func (p *Proxy) serveControl(w http.ResponseWriter, r *http.Request) {
	reply := func(status int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(v)
	}
	fail := func(status int, err error) { reply(status, map[string]string{"error": err.Error()}) }
	body := func() ([]byte, error) { return io.ReadAll(io.LimitReader(r.Body, 1<<20)) }
	switch r.Method + " " + strings.TrimPrefix(r.URL.Path, ControlPrefix) {
	case "GET counts":
		var lines []CountLine
		for k, c := range p.Counts() {
			lines = append(lines, CountLine{k, c})
		}
		reply(http.StatusOK, lines)
	case "GET spec":
		reply(http.StatusOK, p.Spec())
	case "PUT spec":
		b, err := body()
		if err != nil {
			fail(http.StatusBadRequest, err)
			return
		}
		s, err := ParseSpec(b)
		if err == nil {
			err = p.SetSpec(s)
		}
		if err != nil {
			fail(http.StatusBadRequest, err)
			return
		}
		reply(http.StatusOK, s)
	case "POST outage":
		b, err := body()
		if err != nil {
			fail(http.StatusBadRequest, err)
			return
		}
		var o Outage
		if err := json.Unmarshal(b, &o); err != nil {
			fail(http.StatusBadRequest, err)
			return
		}
		o.After = 0
		if err := (Spec{Outages: []Outage{o}}).Validate(); err != nil {
			fail(http.StatusBadRequest, err)
			return
		}
		// Answer first: a refuse outage cuts this connection too.
		reply(http.StatusAccepted, o)
		http.NewResponseController(w).Flush()
		go p.StartOutage(o)
	default:
		fail(http.StatusNotFound, errNoControl)
	}
}

var errNoControl = errors.New("no such control endpoint (counts, spec, outage)")
