package localapi

import (
	"fmt"
	"net/url"
	"testing"
)

// Every statistics route takes the filters, each repeatable and matched exactly, and the breakdowns by
// source and by credential have the by-model shape; the numbers of one filtered window agree.
func TestFiltersAndSourceCredentialBreakdowns(t *testing.T) {
	h := newHarness(t)
	post := func(account, model, source, cred string, in int) {
		body := fmt.Sprintf(`{"account_email":%q,"model":%q,"source":%q,"credential_file":%q,"input_tokens":%d,"output_tokens":1}`,
			account, model, source, cred, in)
		if code, res := h.do("POST", "/usage", body); code != 200 {
			t.Fatalf("post: %d %v", code, res)
		}
	}
	post("a@x", "gemini-2.5-pro", "gcli2api", "c1.json", 100)
	post("a@x", "gpt-4o", "litellm", "", 20)
	post("b@x", "gemini-2.5-pro", "gcli2api", "c2.json", 3)
	post("张三@例子.cn", "模型-β", "", "", 4000)

	q := "?account=a%40x&account=" + url.QueryEscape("张三@例子.cn")
	_, sum := h.do("GET", "/stats/summary"+q, "")
	data := sum["data"].(map[string]any)
	if data["total_input_tokens"] != 4120.0 || data["total_requests"] != 3.0 || data["unique_accounts"] != 2.0 {
		t.Fatalf("filtered summary: %v", data)
	}
	for _, route := range []string{"by-model", "by-account", "by-source", "by-credential"} {
		code, res := h.do("GET", "/stats/"+route+q, "")
		if code != 200 {
			t.Fatalf("%s: %d %v", route, code, res)
		}
		var in float64
		for _, r := range res["data"].([]any) {
			in += r.(map[string]any)["total_input_tokens"].(float64)
		}
		if in != 4120 {
			t.Errorf("%s rows add up to %v input tokens, the summary says 4120", route, in)
		}
	}
	_, src := h.do("GET", "/stats/by-source?model=gemini-2.5-pro", "")
	rows := src["data"].([]any)
	if len(rows) != 1 || rows[0].(map[string]any)["source"] != "gcli2api" || rows[0].(map[string]any)["request_count"] != 2.0 {
		t.Errorf("by-source for gemini-2.5-pro: %v", rows)
	}
	_, cred := h.do("GET", "/stats/by-credential?source=gcli2api&account=b%40x", "")
	rows = cred["data"].([]any)
	if len(rows) != 1 || rows[0].(map[string]any)["credential"] != "c2.json" {
		t.Errorf("by-credential of b@x through gcli2api: %v", rows)
	}
	// "" matches records without a source.
	_, none := h.do("GET", "/stats/summary?source=", "")
	if none["data"].(map[string]any)["total_input_tokens"] != 4000.0 {
		t.Errorf("source= (none): %v", none["data"])
	}
	_, tr := h.do("GET", "/stats/trend/source?metric=requests&model=gemini-2.5-pro", "")
	var n float64
	for _, p := range tr["data"].([]any) {
		for _, v := range p.(map[string]any)["data"].(map[string]any) {
			n += v.(float64)
		}
	}
	if tr["metric"] != "requests" || n != 2 {
		t.Errorf("trend of requests by source for gemini-2.5-pro: %v requests, metric %v", n, tr["metric"])
	}
	for _, bad := range []string{"/stats/trend/model?metric=joules", "/stats/summary?model=%ff", "/stats/by-source?hours=0"} {
		if code, _ := h.do("GET", bad, ""); code != 400 {
			t.Errorf("%s: %d, want 400", bad, code)
		}
	}
}
