package transport

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/edgedl/edgedl/tensor"
)

func restServer(t *testing.T, cfg HTTPConfig) (*Server, *httptest.Server) {
	t.Helper()
	srv := NewServer(ServerConfig{Name: "rest", Version: "2"})
	srv.Add("double", doubler)
	srv.Add("strict", strict)
	srv.Add("typed", ModelFunc(ModelInfo{}, func(_ context.Context, in []NamedTensor) ([]NamedTensor, error) {
		return in, nil // echo, to check every datatype's JSON form
	}))
	hs := httptest.NewServer(NewHTTPHandler(srv, cfg))
	t.Cleanup(hs.Close)
	return srv, hs
}

func do(t *testing.T, method, url, body string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s %s: body %q is not JSON: %v", method, url, b, err)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	return resp.StatusCode, m
}

func TestRESTHealthAndMetadata(t *testing.T) {
	srv, hs := restServer(t, HTTPConfig{})
	u := hs.URL
	if code, m := do(t, "GET", u+"/v2/health/live", ""); code != 200 || m["live"] != true {
		t.Errorf("live: %d %v", code, m)
	}
	if code, m := do(t, "GET", u+"/v2/health/ready", ""); code != 200 || m["ready"] != true {
		t.Errorf("ready: %d %v", code, m)
	}
	srv.SetReady(false)
	if code, m := do(t, "GET", u+"/v2/health/ready", ""); code != 400 || m["ready"] != false {
		t.Errorf("not ready: %d %v", code, m)
	}
	srv.SetReady(true)
	if code, m := do(t, "GET", u+"/v2", ""); code != 200 || m["name"] != "rest" || m["version"] != "2" {
		t.Errorf("server metadata: %d %v", code, m)
	}
	code, m := do(t, "GET", u+"/v2/models/strict", "")
	if code != 200 || m["name"] != "strict" {
		t.Fatalf("model metadata: %d %v", code, m)
	}
	in := m["inputs"].([]any)[0].(map[string]any)
	if in["datatype"] != "FP32" || in["shape"].([]any)[0] != -1.0 {
		t.Errorf("input metadata %v", in)
	}
	if code, _ := do(t, "GET", u+"/v2/models/strict/versions/1", ""); code != 200 {
		t.Errorf("versioned metadata: %d", code)
	}
	if code, m := do(t, "GET", u+"/v2/models/strict/ready", ""); code != 200 || m["ready"] != true {
		t.Errorf("model ready: %d %v", code, m)
	}
	if code, m := do(t, "GET", u+"/v2/models/nope/ready", ""); code != 400 || m["ready"] != false {
		t.Errorf("unknown model ready: %d %v", code, m)
	}
	if code, m := do(t, "GET", u+"/v2/models/nope", ""); code != 404 || !strings.Contains(m["error"].(string), "unknown model") {
		t.Errorf("unknown model metadata: %d %v", code, m)
	}
}

func TestRESTInfer(t *testing.T) {
	_, hs := restServer(t, HTTPConfig{})
	body := `{"id": "r1", "parameters": {"edgedl.output_codec": "fp16"},
		"inputs": [{"name": "x", "shape": [2, 4], "datatype": "FP32", "data": [[1, 2, 3, 4], [5, 6, 7, 8.5]]}]}`
	code, m := do(t, "POST", hs.URL+"/v2/models/strict/infer", body)
	if code != 200 {
		t.Fatalf("infer: %d %v", code, m)
	}
	if m["model_name"] != "strict" || m["id"] != "r1" {
		t.Errorf("envelope %v", m)
	}
	out := m["outputs"].([]any)[0].(map[string]any)
	data := out["data"].([]any)
	if out["name"] != "x_out" || out["datatype"] != "FP32" || len(data) != 8 || data[0] != 2.0 || data[7] != 17.0 {
		t.Errorf("output %v", out)
	}
	if out["parameters"] != nil {
		t.Errorf("codec parameters leaked into JSON: %v", out["parameters"])
	}
	if p := m["parameters"].(map[string]any); p[ParamServerTime] == nil {
		t.Errorf("response parameters %v", p)
	}

	// Every datatype's JSON form survives an echo.
	body = `{"inputs": [
		{"name": "b", "shape": [2], "datatype": "BOOL", "data": [true, false]},
		{"name": "s", "shape": [2], "datatype": "BYTES", "data": ["héllo", ""]},
		{"name": "h", "shape": [2], "datatype": "FP16", "data": [1.5, -2]},
		{"name": "i8", "shape": [3], "datatype": "INT8", "data": [-128, 0, 127]},
		{"name": "u8", "shape": [1], "datatype": "UINT8", "data": [255]},
		{"name": "i64", "shape": [1], "datatype": "INT64", "data": [-9007199254740993]},
		{"name": "u64", "shape": [1], "datatype": "UINT64", "data": [18446744073709551615]},
		{"name": "f64", "shape": [], "datatype": "FP64", "data": [0.1]}
	]}`
	hsResp, err := http.Post(hs.URL+"/v2/models/typed/infer", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(hsResp.Body)
	hsResp.Body.Close()
	for _, want := range []string{`"data":[true,false]`, `"data":["héllo",""]`, `"data":[1.5,-2]`, `"data":[-128,0,127]`,
		`"data":[255]`, `"data":[-9007199254740993]`, `"data":[18446744073709551615]`, `"data":[0.1]`} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("echo lacks %s: %s", want, raw)
		}
	}
}

func TestRESTErrors(t *testing.T) {
	_, hs := restServer(t, HTTPConfig{MaxBodyBytes: 4096})
	u := hs.URL + "/v2/models/strict/infer"
	input := func(shape, dt, data string) string {
		return `{"inputs": [{"name": "x", "shape": ` + shape + `, "datatype": "` + dt + `", "data": ` + data + `}]}`
	}
	cases := []struct {
		name, url, body string
		code            int
		msg             string
	}{
		{"not JSON", u, `{"inputs": [`, 400, "not valid JSON"},
		{"too few elements", u, input("[1, 4]", "FP32", "[1, 2, 3]"), 400, "needs 4 elements, data has 3"},
		{"too many elements", u, input("[1, 4]", "FP32", "[1, 2, 3, 4, 5]"), 400, "data has more"},
		{"wrong shape for model", u, input("[2, 2]", "FP32", "[1, 2, 3, 4]"), 400, "want [-1 4]"},
		{"unknown datatype", u, input("[1, 4]", "FP8", "[1, 2, 3, 4]"), 400, `unknown datatype "FP8"`},
		{"string for number", u, input("[1, 4]", "FP32", `[1, 2, 3, "4"]`), 400, "want a number"},
		{"int8 out of range", hs.URL + "/v2/models/typed/infer", input("[1]", "INT8", "[300]"), 400, "out of range"},
		{"fraction for int", hs.URL + "/v2/models/typed/infer", input("[1]", "INT32", "[1.5]"), 400, "invalid syntax"},
		{"object in data", u, input("[1, 4]", "FP32", `{"a": 1}`), 400, "arrays of values"},
		{"too deep", u, input("[4]", "FP32", `[[[1, 2, 3, 4]]]`), 400, "nested deeper"},
		{"negative dim", u, input("[-1, 4]", "FP32", "[1, 2, 3, 4]"), 400, "negative dimension"},
		{"huge shape", u, input("[1000000000, 1000000000]", "FP32", "[1]"), 413, "exceeds limits"},
		{"shape beyond data", u, input("[100000]", "FP32", "[1]"), 400, "data has at most"},
		{"codec in JSON", u, `{"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP32", "parameters": {"edgedl.codec": "int8"}, "data": [1, 2, 3, 4]}]}`, 400, "cannot carry a codec"},
		{"body too large", u, input("[1, 4]", "FP32", "["+strings.Repeat("1, ", 2000)+"1]"), 413, "request body over 4096 bytes"},
		{"unknown model", hs.URL + "/v2/models/nope/infer", input("[1, 4]", "FP32", "[1, 2, 3, 4]"), 404, "unknown model"},
	}
	for _, tc := range cases {
		code, m := do(t, "POST", tc.url, tc.body)
		msg, _ := m["error"].(string)
		if code != tc.code || !strings.Contains(msg, tc.msg) {
			t.Errorf("%s: %d %q, want %d containing %q", tc.name, code, msg, tc.code, tc.msg)
		}
	}
	// Still serving.
	if code, m := do(t, "POST", u, input("[1, 4]", "FP32", "[1, 2, 3, 4]")); code != 200 {
		t.Errorf("after errors: %d %v", code, m)
	}
}

func TestJSONDataNaN(t *testing.T) {
	x := tensor.Float32s([]int{3}, []float32{1, float32(nan()), -0.5})
	if got := string(appendJSONData(nil, x)); got != "[1,null,-0.5]" {
		t.Errorf("got %s", got)
	}
}

func nan() float64 { var z float64; return z / z }

// FuzzHTTPInfer feeds arbitrary bodies to the JSON endpoint: every answer
// must be JSON with a status, never a panic.
func FuzzHTTPInfer(f *testing.F) {
	f.Add(`{"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}]}`)
	f.Add(`{"inputs": [{"name": "s", "shape": [1], "datatype": "BYTES", "data": [["a"]]}]}`)
	f.Add(`{"inputs": [{"name": "x", "shape": [2], "datatype": "FP16", "data": [1e9, -1]}], "outputs": [{"name": "x"}]}`)
	srv := NewServer(ServerConfig{})
	srv.Add("typed", ModelFunc(ModelInfo{}, func(_ context.Context, in []NamedTensor) ([]NamedTensor, error) {
		return in, nil
	}))
	h := NewHTTPHandler(srv, HTTPConfig{MaxBodyBytes: 1 << 16, Limits: Limits{MaxTensorBytes: 1 << 16}})
	f.Fuzz(func(t *testing.T, body string) {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("POST", "/v2/models/typed/infer", strings.NewReader(body))
		h.ServeHTTP(rec, req)
		if !json.Valid(rec.Body.Bytes()) {
			t.Fatalf("status %d, body %q is not JSON", rec.Code, rec.Body.Bytes())
		}
	})
}
