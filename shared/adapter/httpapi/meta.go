package httpapi

import (
	"math"
	"net/http"

	"github.com/buildfarm/buildfarm/shared/adapter/apiv1"
)

func (s *Server) health(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, apiv1.Health{Status: "ok"})
	return nil
}

func (s *Server) openAPI(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=300")
	w.WriteHeader(http.StatusOK)
	w.Write(s.openapi)
	return nil
}

func (s *Server) queueSummary(w http.ResponseWriter, r *http.Request) error {
	pools, err := s.queue.Summary(r.Context())
	if err != nil {
		return err
	}
	out := apiv1.QueueSummary{Pools: make([]apiv1.PoolSummary, 0, len(pools))}
	for _, p := range pools {
		out.Pools = append(out.Pools, apiv1.PoolSummary{
			Pool:              p.Pool,
			Waiting:           p.Waiting,
			Queued:            p.Queued,
			Running:           p.Running,
			BuildersIdle:      p.BuildersIdle,
			BuildersBusy:      p.BuildersBusy,
			BuildersOther:     p.BuildersOther,
			Slots:             p.Slots,
			OldestWaitSeconds: p.OldestWaitSeconds,
			EstimatedStartAt:  p.EstimatedStartAt,
			// No start in the last hour: both are 0 (started_last_hour says so).
			TimeToStartP50Seconds: orZero(p.TimeToStartP50),
			TimeToStartP90Seconds: orZero(p.TimeToStartP90),
			StartedLastHour:       p.Started,
		})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func orZero(f *float64) float64 {
	if f == nil {
		return 0
	}
	return math.Round(*f*1000) / 1000
}

// whoami tells the caller who its token says it is: pages use it to show
// only the actions the caller may take.
func (s *Server) whoami(w http.ResponseWriter, r *http.Request) error {
	p := principal(r.Context())
	writeJSON(w, http.StatusOK, apiv1.WhoAmI{Actor: p.Actor(), Role: string(p.Role), TokenID: p.TokenID, Builder: p.Builder})
	return nil
}
