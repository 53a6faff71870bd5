package config

import (
	"slices"
	"testing"
)

func TestListenerServe(t *testing.T) {
	tests := []struct {
		name      string
		listeners string
		want      []string
	}{
		{"default", `[{name: a, address: ":8080"}]`, nil},
		{"routes only", `[{name: a, address: ":8080", serve: [routes]}, {name: b, address: ":8081", serve: [api]}]`, nil},
		{"both listed", `[{name: a, address: ":8080", serve: [api, routes]}]`, nil},
		{"empty list", `[{name: a, address: ":8080", serve: []}]`, []string{`listeners[0].serve: is empty: list "api" and/or "routes", or leave it out for both`}},
		{"unknown and duplicate", `[{name: a, address: ":8080", serve: [routes, admin, routes]}]`, []string{
			`listeners[0].serve[1]: unknown value "admin" (want "api" or "routes")`,
			`listeners[0].serve[2]: "routes" is listed twice (also listeners[0].serve[0])`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := problemsOf(t, doc(map[string]string{"listeners": tt.listeners}), Options{})
			if !slices.Equal(got, tt.want) {
				t.Errorf("problems %q, want %q", got, tt.want)
			}
		})
	}
}

func TestListenerServes(t *testing.T) {
	tests := []struct {
		serve       []string
		api, routes bool
	}{
		{nil, true, true},
		{[]string{ServeAPI}, true, false},
		{[]string{ServeRoutes}, false, true},
		{[]string{ServeRoutes, ServeAPI}, true, true},
	}
	for _, tt := range tests {
		l := Listener{Serve: tt.serve}
		if l.Serves(ServeAPI) != tt.api || l.Serves(ServeRoutes) != tt.routes {
			t.Errorf("Serve %v: api %t routes %t, want %t %t", tt.serve, l.Serves(ServeAPI), l.Serves(ServeRoutes), tt.api, tt.routes)
		}
	}
}
