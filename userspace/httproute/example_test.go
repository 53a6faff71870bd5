package httproute_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/weir-gateway/weir/userspace/config"
	"github.com/weir-gateway/weir/userspace/httproute"
)

// ExampleTable_Handler mounts the plain routes in front of another handler
// (weir's AI API): a request a route claims goes upstream, any other
// request, on any host, falls through.
func ExampleTable_Handler() {
	shop := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "shop saw %s", r.URL.Path)
	}))
	defer shop.Close()
	ai := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "AI API") })

	cfg, err := config.Load([]byte(`
version: 1
routes:
  - name: shop
    host: shop.example.com
    path: "/api(/|$)(.*)"
    path_type: regex
    rewrite: "/$2"
    upstream: {servers: ["` + strings.TrimPrefix(shop.URL, "http://") + `"]}
`))
	if err != nil {
		fmt.Println(err)
		return
	}
	table, err := httproute.New(cfg.Routes)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer table.Close()
	front := httptest.NewServer(table.Handler(ai))
	defer front.Close()

	for _, path := range []string{"/api/items/7", "/v1/chat/completions"} {
		req, _ := http.NewRequest("GET", front.URL+path, nil)
		req.Host = "shop.example.com"
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			fmt.Println(err)
			return
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Println(path, "→", string(body))
	}
	// Output:
	// /api/items/7 → shop saw /items/7
	// /v1/chat/completions → AI API
}
