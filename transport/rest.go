package transport

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/edgedl/edgedl/tensor"
	"github.com/edgedl/edgedl/transport/codec"
	pb "github.com/edgedl/edgedl/transport/inferencepb"
)

// HTTPConfig configures NewHTTPHandler.
type HTTPConfig struct {
	// MaxBodyBytes bounds a request body; default 64 MiB. Larger bodies get
	// 413.
	MaxBodyBytes int64
	// Limits bound each tensor (as for gRPC).
	Limits Limits
}

// NewHTTPHandler serves svc in the HTTP/REST (JSON) form of the Open
// Inference Protocol:
//
//	GET  /v2                                   server metadata
//	GET  /v2/health/live, /v2/health/ready     200 when true, 400 when false
//	GET  /v2/models/{name}[/versions/{v}]      model metadata
//	GET  /v2/models/{name}[/versions/{v}]/ready
//	POST /v2/models/{name}[/versions/{v}]/infer
//
// Input "data" may be flat or nested (row-major) JSON arrays; BOOL takes
// true/false, BYTES strings, FP16/BF16 numbers. Outputs are returned as flat
// arrays, decoded from whatever codec the service used; a NaN or infinite
// float is written as null, which JSON has no number for. Errors are
// {"error": "..."} with a status mapped from the gRPC code (400 invalid
// argument, 404 not found, 413 too large, 500 internal, ...).
func NewHTTPHandler(svc Service, cfg HTTPConfig) http.Handler {
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 64 << 20
	}
	cfg.Limits = cfg.Limits.withDefaults()
	h := &restHandler{svc: svc, cfg: cfg}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v2", h.serverMetadata)
	mux.HandleFunc("GET /v2/health/live", h.live)
	mux.HandleFunc("GET /v2/health/ready", h.ready)
	mux.HandleFunc("GET /v2/models/{name}", h.modelMetadata)
	mux.HandleFunc("GET /v2/models/{name}/versions/{version}", h.modelMetadata)
	mux.HandleFunc("GET /v2/models/{name}/ready", h.modelReady)
	mux.HandleFunc("GET /v2/models/{name}/versions/{version}/ready", h.modelReady)
	mux.HandleFunc("POST /v2/models/{name}/infer", h.infer)
	mux.HandleFunc("POST /v2/models/{name}/versions/{version}/infer", h.infer)
	return mux
}

type restHandler struct {
	svc Service
	cfg HTTPConfig
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		code, b = http.StatusInternalServerError, []byte(`{"error":"transport: response not representable as JSON"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	w.Write(b)
}

func writeError(w http.ResponseWriter, err error) {
	code := http.StatusInternalServerError
	msg := err.Error()
	if st, ok := status.FromError(err); ok {
		msg = st.Message()
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
		case codes.Unimplemented:
			code = http.StatusNotImplemented
		case codes.Unauthenticated:
			code = http.StatusUnauthorized
		case codes.PermissionDenied:
			code = http.StatusForbidden
		}
	}
	writeJSON(w, code, map[string]string{"error": msg})
}

func boolStatus(ok bool) int {
	if ok {
		return http.StatusOK
	}
	return http.StatusBadRequest
}

func (h *restHandler) live(w http.ResponseWriter, r *http.Request) {
	resp, err := h.svc.ServerLive(r.Context(), &pb.ServerLiveRequest{})
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, boolStatus(resp.GetLive()), map[string]bool{"live": resp.GetLive()})
}

func (h *restHandler) ready(w http.ResponseWriter, r *http.Request) {
	resp, err := h.svc.ServerReady(r.Context(), &pb.ServerReadyRequest{})
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, boolStatus(resp.GetReady()), map[string]bool{"ready": resp.GetReady()})
}

func (h *restHandler) modelReady(w http.ResponseWriter, r *http.Request) {
	resp, err := h.svc.ModelReady(r.Context(), &pb.ModelReadyRequest{Name: r.PathValue("name"), Version: r.PathValue("version")})
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, boolStatus(resp.GetReady()), map[string]any{"name": r.PathValue("name"), "ready": resp.GetReady()})
}

func (h *restHandler) serverMetadata(w http.ResponseWriter, r *http.Request) {
	resp, err := h.svc.ServerMetadata(r.Context(), &pb.ServerMetadataRequest{})
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"name": resp.GetName(), "version": resp.GetVersion(), "extensions": nonNil(resp.GetExtensions()),
	})
}

type restTensorMeta struct {
	Name     string  `json:"name"`
	Datatype string  `json:"datatype"`
	Shape    []int64 `json:"shape"`
}

func (h *restHandler) modelMetadata(w http.ResponseWriter, r *http.Request) {
	resp, err := h.svc.ModelMetadata(r.Context(), &pb.ModelMetadataRequest{Name: r.PathValue("name"), Version: r.PathValue("version")})
	if err != nil {
		writeError(w, err)
		return
	}
	meta := func(ts []*pb.ModelMetadataResponse_TensorMetadata) []restTensorMeta {
		out := []restTensorMeta{}
		for _, t := range ts {
			out = append(out, restTensorMeta{t.GetName(), t.GetDatatype(), nonNil(t.GetShape())})
		}
		return out
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"name": resp.GetName(), "versions": nonNil(resp.GetVersions()), "platform": resp.GetPlatform(),
		"inputs": meta(resp.GetInputs()), "outputs": meta(resp.GetOutputs()),
	})
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

type restInput struct {
	Name       string          `json:"name"`
	Shape      []int64         `json:"shape"`
	Datatype   string          `json:"datatype"`
	Parameters map[string]any  `json:"parameters,omitempty"`
	Data       json.RawMessage `json:"data"`
}

type restRequestedOutput struct {
	Name       string         `json:"name"`
	Parameters map[string]any `json:"parameters,omitempty"`
}

type restRequest struct {
	ID         string                `json:"id,omitempty"`
	Parameters map[string]any        `json:"parameters,omitempty"`
	Inputs     []restInput           `json:"inputs"`
	Outputs    []restRequestedOutput `json:"outputs,omitempty"`
}

type restOutput struct {
	Name       string          `json:"name"`
	Datatype   string          `json:"datatype"`
	Shape      []int64         `json:"shape"`
	Parameters map[string]any  `json:"parameters,omitempty"`
	Data       json.RawMessage `json:"data"`
}

type restResponse struct {
	ModelName    string         `json:"model_name"`
	ModelVersion string         `json:"model_version,omitempty"`
	ID           string         `json:"id,omitempty"`
	Parameters   map[string]any `json:"parameters,omitempty"`
	Outputs      []restOutput   `json:"outputs"`
}

func badRequest(format string, args ...any) error {
	return status.Errorf(codes.InvalidArgument, "transport: "+format, args...)
}

func (h *restHandler) infer(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.cfg.MaxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeError(w, status.Errorf(codes.ResourceExhausted, "transport: request body over %d bytes", mbe.Limit))
			return
		}
		writeError(w, badRequest("reading request: %v", err))
		return
	}
	req, err := h.parseRequest(r.PathValue("name"), r.PathValue("version"), body)
	if err != nil {
		writeError(w, err)
		return
	}
	resp, err := h.svc.ModelInfer(r.Context(), req)
	if err != nil {
		writeError(w, err)
		return
	}
	out, err := h.formatResponse(resp)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// parseRequest turns a JSON request into a ModelInferRequest with raw
// contents.
func (h *restHandler) parseRequest(model, version string, body []byte) (*pb.ModelInferRequest, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var rr restRequest
	if err := dec.Decode(&rr); err != nil {
		return nil, badRequest("request is not valid JSON: %v", err)
	}
	if len(rr.Inputs) > h.cfg.Limits.MaxTensors {
		return nil, status.Errorf(codes.ResourceExhausted, "transport: %d inputs, limit %d", len(rr.Inputs), h.cfg.Limits.MaxTensors)
	}
	req := &pb.ModelInferRequest{ModelName: model, ModelVersion: version, Id: rr.ID}
	var err error
	if req.Parameters, err = paramsFromJSON(rr.Parameters); err != nil {
		return nil, err
	}
	for _, in := range rr.Inputs {
		what := fmt.Sprintf("input %q", in.Name)
		dt, err := ParseDatatype(in.Datatype)
		if err != nil {
			return nil, badRequest("%s: %v", what, err)
		}
		shape, err := checkShape(what, dt, in.Shape, h.cfg.Limits)
		if err != nil {
			return nil, statusOf(err)
		}
		t, err := parseData(what, dt, shape, in.Data)
		if err != nil {
			return nil, err
		}
		raw, err := codec.AppendRaw(nil, t)
		if err != nil {
			return nil, badRequest("%s: %v", what, err)
		}
		params, err := paramsFromJSON(in.Parameters)
		if err != nil {
			return nil, err
		}
		if _, ok := params[codec.ParamCodec]; ok {
			return nil, badRequest("%s: JSON data cannot carry a codec", what)
		}
		req.Inputs = append(req.Inputs, &pb.ModelInferRequest_InferInputTensor{
			Name: in.Name, Datatype: in.Datatype, Shape: in.Shape, Parameters: params})
		req.RawInputContents = append(req.RawInputContents, raw)
	}
	for _, o := range rr.Outputs {
		params, err := paramsFromJSON(o.Parameters)
		if err != nil {
			return nil, err
		}
		req.Outputs = append(req.Outputs, &pb.ModelInferRequest_InferRequestedOutputTensor{Name: o.Name, Parameters: params})
	}
	return req, nil
}

func paramsFromJSON(m map[string]any) (map[string]*pb.InferParameter, error) {
	if len(m) == 0 {
		return nil, nil
	}
	out := make(map[string]*pb.InferParameter, len(m))
	for k, v := range m {
		switch v := v.(type) {
		case bool:
			out[k] = &pb.InferParameter{ParameterChoice: &pb.InferParameter_BoolParam{BoolParam: v}}
		case string:
			out[k] = codec.StringParam(v)
		case json.Number:
			if i, err := strconv.ParseInt(v.String(), 10, 64); err == nil {
				out[k] = codec.Int64Param(i)
			} else if f, err := strconv.ParseFloat(v.String(), 64); err == nil {
				out[k] = codec.DoubleParam(f)
			} else {
				return nil, badRequest("parameter %q: bad number %s", k, v)
			}
		default:
			return nil, badRequest("parameter %q: want a bool, number or string, got %T", k, v)
		}
	}
	return out, nil
}

func paramsToJSON(m map[string]*pb.InferParameter, skipCodec bool) map[string]any {
	out := map[string]any{}
	for k, p := range m {
		if skipCodec && strings.HasPrefix(k, "edgedl.") && k != ParamServerTime {
			continue
		}
		switch v := p.GetParameterChoice().(type) {
		case *pb.InferParameter_BoolParam:
			out[k] = v.BoolParam
		case *pb.InferParameter_Int64Param:
			out[k] = v.Int64Param
		case *pb.InferParameter_StringParam:
			out[k] = v.StringParam
		case *pb.InferParameter_DoubleParam:
			if !math.IsNaN(v.DoubleParam) && !math.IsInf(v.DoubleParam, 0) {
				out[k] = v.DoubleParam
			}
		case *pb.InferParameter_Uint64Param:
			out[k] = v.Uint64Param
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// parseData reads a flat or nested JSON array of exactly the shape's
// element count into a tensor, with the values range-checked for dt.
func parseData(what string, dt tensor.DType, shape []int, data json.RawMessage) (*tensor.Tensor, error) {
	n, _ := tensor.NumElements(shape) // checked
	if len(data) == 0 {
		return nil, badRequest("%s has no data", what)
	}
	// Every element takes at least one byte of JSON plus a separator:
	// refuse before allocating for a shape the data cannot fill.
	if n > len(data) {
		return nil, badRequest("%s: shape %v needs %d elements, data has at most %d", what, shape, n, len(data))
	}
	t, err := tensor.Make(dt, shape)
	if err != nil {
		return nil, badRequest("%s: %v", what, err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	i, depth := 0, 0
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, badRequest("%s: data: %v", what, err)
		}
		if d, ok := tok.(json.Delim); ok {
			switch d {
			case '[':
				depth++
				if depth > len(shape)+1 {
					return nil, badRequest("%s: data nested deeper than its rank %d", what, len(shape))
				}
			case ']':
				depth--
			default:
				return nil, badRequest("%s: data must be arrays of values", what)
			}
			continue
		}
		if i >= n {
			return nil, badRequest("%s: shape %v needs %d elements, data has more", what, shape, n)
		}
		if err := setElem(t, i, tok); err != nil {
			return nil, badRequest("%s: element %d: %v", what, i, err)
		}
		i++
	}
	if i != n {
		return nil, badRequest("%s: shape %v needs %d elements, data has %d", what, shape, n, i)
	}
	return t, nil
}

func setElem(t *tensor.Tensor, i int, tok json.Token) error {
	if t.DType == tensor.Bool {
		b, ok := tok.(bool)
		if !ok {
			return fmt.Errorf("want true or false, got %v", tok)
		}
		t.Data.([]bool)[i] = b
		return nil
	}
	if t.DType == tensor.String {
		s, ok := tok.(string)
		if !ok {
			return fmt.Errorf("want a string, got %v", tok)
		}
		t.Data.([]string)[i] = s
		return nil
	}
	num, ok := tok.(json.Number)
	if !ok {
		return fmt.Errorf("want a number, got %v", tok)
	}
	s := num.String()
	switch d := t.Data.(type) {
	case []float32:
		f, err := strconv.ParseFloat(s, 32)
		if err != nil {
			return err
		}
		d[i] = float32(f)
	case []float64:
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return err
		}
		d[i] = f
	case []uint16:
		if t.DType == tensor.Float16 || t.DType == tensor.BFloat16 {
			f, err := strconv.ParseFloat(s, 32)
			if err != nil {
				return err
			}
			if t.DType == tensor.Float16 {
				d[i] = tensor.FloatToHalf(float32(f))
			} else {
				d[i] = tensor.FloatToBFloat16(float32(f))
			}
			return nil
		}
		v, err := strconv.ParseUint(s, 10, 16)
		if err != nil {
			return err
		}
		d[i] = uint16(v)
	case []int8:
		v, err := strconv.ParseInt(s, 10, 8)
		if err != nil {
			return err
		}
		d[i] = int8(v)
	case []int16:
		v, err := strconv.ParseInt(s, 10, 16)
		if err != nil {
			return err
		}
		d[i] = int16(v)
	case []int32:
		v, err := strconv.ParseInt(s, 10, 32)
		if err != nil {
			return err
		}
		d[i] = int32(v)
	case []int64:
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return err
		}
		d[i] = v
	case []uint8:
		v, err := strconv.ParseUint(s, 10, 8)
		if err != nil {
			return err
		}
		d[i] = uint8(v)
	case []uint32:
		v, err := strconv.ParseUint(s, 10, 32)
		if err != nil {
			return err
		}
		d[i] = uint32(v)
	case []uint64:
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return err
		}
		d[i] = v
	default:
		return fmt.Errorf("unsupported %v", t.DType)
	}
	return nil
}

func (h *restHandler) formatResponse(resp *pb.ModelInferResponse) (*restResponse, error) {
	outs, err := DecodeOutputs(resp, h.cfg.Limits)
	if err != nil {
		return nil, status.Errorf(codes.Internal, "transport: model %q returned %v", resp.GetModelName(), err)
	}
	rr := &restResponse{ModelName: resp.GetModelName(), ModelVersion: resp.GetModelVersion(), ID: resp.GetId(),
		Parameters: paramsToJSON(resp.GetParameters(), false), Outputs: []restOutput{}}
	for i, o := range outs {
		dt, err := Datatype(o.Tensor.DType)
		if err != nil {
			return nil, status.Errorf(codes.Internal, "transport: output %q: %v", o.Name, err)
		}
		rr.Outputs = append(rr.Outputs, restOutput{
			Name: o.Name, Datatype: dt, Shape: Shape64(o.Tensor.Shape),
			Parameters: paramsToJSON(resp.GetOutputs()[i].GetParameters(), true),
			Data:       appendJSONData(nil, o.Tensor),
		})
	}
	return rr, nil
}

// appendJSONData writes t's elements as a flat JSON array.
func appendJSONData(b []byte, t *tensor.Tensor) []byte {
	b = append(b, '[')
	n := t.Len()
	for i := 0; i < n; i++ {
		if i > 0 {
			b = append(b, ',')
		}
		switch d := t.Data.(type) {
		case []float32:
			b = appendFloat(b, float64(d[i]), 32)
		case []float64:
			b = appendFloat(b, d[i], 64)
		case []uint16:
			switch t.DType {
			case tensor.Float16:
				b = appendFloat(b, float64(tensor.HalfToFloat(d[i])), 32)
			case tensor.BFloat16:
				b = appendFloat(b, float64(tensor.BFloat16ToFloat(d[i])), 32)
			default:
				b = strconv.AppendUint(b, uint64(d[i]), 10)
			}
		case []bool:
			b = strconv.AppendBool(b, d[i])
		case []string:
			q, _ := json.Marshal(d[i])
			b = append(b, q...)
		case []uint8:
			b = strconv.AppendUint(b, uint64(d[i]), 10)
		case []uint32:
			b = strconv.AppendUint(b, uint64(d[i]), 10)
		case []uint64:
			b = strconv.AppendUint(b, d[i], 10)
		default:
			b = strconv.AppendInt(b, t.Int64At(i), 10)
		}
	}
	return append(b, ']')
}

func appendFloat(b []byte, f float64, bits int) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(b, "null"...)
	}
	return strconv.AppendFloat(b, f, 'g', -1, bits)
}
