package node

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/edgedl/edgedl/node/repositorypb"
	"github.com/edgedl/edgedl/transport"
)

// ServeHTTP serves the node's HTTP port:
//
//	GET  /metrics                                  Prometheus metrics (open)
//	GET  /healthz, /readyz                         liveness, readiness (open)
//	PUT  /v2/repository/models/{hash}              upload: the body is the ONNX bytes;
//	                                               201 stored, 200 already held;
//	                                               ?target=next relays to the next tier
//	POST /v2/repository/models/{hash}/load         200 if held, else 404
//	POST /v2/repository/models/{hash}/unload       drop it
//	POST /v2/repository/index                      [{"name","version","state","reason"}]
//	/v2/...                                        the REST protocol (transport.NewHTTPHandler)
//
// Everything under /v2 needs "Authorization: Bearer <token>" (401
// otherwise). Errors are {"error": "..."}.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.web.ServeHTTP(w, r) }

func (s *Server) httpHandler() http.Handler {
	api := http.NewServeMux()
	api.HandleFunc("PUT /v2/repository/models/{hash}", s.restUpload)
	api.HandleFunc("POST /v2/repository/models/{hash}/load", s.restLoad)
	api.HandleFunc("POST /v2/repository/models/{hash}/unload", s.restUnload)
	api.HandleFunc("POST /v2/repository/index", s.restIndex)
	proto := transport.NewHTTPHandler(s.svc, transport.HTTPConfig{
		MaxBodyBytes: int64(s.cfg.MaxMessageBytes), Limits: s.cfg.Limits})
	api.Handle("/v2/", proto)
	api.Handle("/v2", proto)
	authed := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := s.auth.check(r.Header.Get("Authorization")); err != nil {
			w.Header().Set("WWW-Authenticate", `Bearer realm="edgedl"`)
			writeJSONError(w, http.StatusUnauthorized, err.Error())
			return
		}
		api.ServeHTTP(w, r)
	})
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.met.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]bool{"live": true})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		resp, _ := s.ts.ServerReady(r.Context(), nil)
		code := http.StatusOK
		if !resp.GetReady() {
			code = http.StatusServiceUnavailable
		}
		writeJSON(w, code, map[string]bool{"ready": resp.GetReady()})
	})
	mux.Handle("/v2/", authed)
	mux.Handle("/v2", authed)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w, code: http.StatusOK}
		mux.ServeHTTP(rec, r)
		s.met.httpRequests.WithLabelValues(strconv.Itoa(rec.code)).Inc()
	})
}

type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.code = code
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	w.Write(b)
}

func writeJSONError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}

// writeStatus writes a gRPC status error as JSON with a matching HTTP code.
func writeStatus(w http.ResponseWriter, err error) {
	st := status.Convert(err)
	code := http.StatusInternalServerError
	switch st.Code() {
	case codes.InvalidArgument, codes.FailedPrecondition, codes.OutOfRange:
		code = http.StatusBadRequest
	case codes.NotFound:
		code = http.StatusNotFound
	case codes.ResourceExhausted:
		code = http.StatusRequestEntityTooLarge
	case codes.Unavailable:
		code = http.StatusServiceUnavailable
	case codes.DeadlineExceeded:
		code = http.StatusGatewayTimeout
	case codes.Unauthenticated:
		code = http.StatusUnauthorized
	}
	writeJSONError(w, code, st.Message())
}

func (s *Server) restUpload(w http.ResponseWriter, r *http.Request) {
	hash := r.PathValue("hash")
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, int64(s.cfg.MaxMessageBytes)))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			s.met.uploads.WithLabelValues("rejected").Inc()
			writeJSONError(w, http.StatusRequestEntityTooLarge, "node: upload larger than "+strconv.Itoa(s.cfg.MaxMessageBytes)+" bytes")
			return
		}
		writeJSONError(w, http.StatusBadRequest, "node: reading upload: "+err.Error())
		return
	}
	if t := r.URL.Query().Get("target"); t != "" {
		req := &repositorypb.RepositoryModelLoadRequest{ModelName: hash, Parameters: map[string]*repositorypb.ModelRepositoryParameter{
			ParamTarget: {ParameterChoice: &repositorypb.ModelRepositoryParameter_StringParam{StringParam: t}},
			FileParam:   {ParameterChoice: &repositorypb.ModelRepositoryParameter_BytesParam{BytesParam: body}},
		}}
		if _, err := s.repo.RepositoryModelLoad(r.Context(), req); err != nil {
			writeStatus(w, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"name": hash})
		return
	}
	added, err := s.load(hash, body)
	if err != nil {
		writeStatus(w, err)
		return
	}
	code := http.StatusOK
	if added {
		code = http.StatusCreated
	}
	writeJSON(w, code, map[string]string{"name": hash})
}

func (s *Server) restLoad(w http.ResponseWriter, r *http.Request) {
	hash := r.PathValue("hash")
	if !s.cache.has(hash) {
		writeStatus(w, s.notFound(hash))
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"name": hash})
}

func (s *Server) restUnload(w http.ResponseWriter, r *http.Request) {
	hash := r.PathValue("hash")
	if !s.Unload(hash) {
		writeStatus(w, s.notFound(hash))
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"name": hash})
}

func (s *Server) restIndex(w http.ResponseWriter, r *http.Request) {
	resp, _ := s.repo.RepositoryIndex(r.Context(), nil)
	type entry struct {
		Name    string `json:"name"`
		Version string `json:"version"`
		State   string `json:"state"`
		Reason  string `json:"reason,omitempty"`
	}
	out := []entry{}
	for _, m := range resp.GetModels() {
		out = append(out, entry{m.Name, m.Version, m.State, m.Reason})
	}
	writeJSON(w, http.StatusOK, out)
}
