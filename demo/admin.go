package demo

import (
	"encoding/json"
	"net/http"
	"strings"
)

// serveFaults reads (GET) or changes (POST) the faults. A POST body is a
// JSON object with any of errorRatio, latency and latencyJitter; fields left
// out keep their value. Both answer with the faults now in force.
func (b *Backend) serveFaults(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet:
	case http.MethodPost:
		// Hold the lock from read to write so that concurrent partial
		// updates do not lose each other's fields.
		b.mu.Lock()
		next, err := decodeFaultsUpdate(r.Body, b.faults)
		if err == nil {
			b.faults = next
		}
		b.mu.Unlock()
		if err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": strings.ReplaceAll(err.Error(), "\n", "; ")})
			return
		}
		b.log.Info("faults changed", "errorRatio", next.ErrorRatio, "latency", next.Latency, "latencyJitter", next.LatencyJitter)
	default:
		w.Header().Set("Allow", "GET, POST")
		writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": r.Method + " not allowed: use GET to read the faults or POST to change them"})
		return
	}
	writeJSON(w, http.StatusOK, b.Faults())
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
