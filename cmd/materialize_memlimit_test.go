package cmd

import "testing"

func TestDefaultMemoryLimit(t *testing.T) {
	tests := []struct {
		name  string
		env   map[string]string
		limit int64
		set   bool
	}{
		{"unset", nil, DefaultMemoryLimit, true},
		{"empty", map[string]string{"GOMEMLIMIT": ""}, DefaultMemoryLimit, true},
		{"set", map[string]string{"GOMEMLIMIT": "512MiB"}, 0, false},
		{"off", map[string]string{"GOMEMLIMIT": "off"}, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lookup := func(k string) (string, bool) { v, ok := tt.env[k]; return v, ok }
			limit, set := defaultMemoryLimit(lookup)
			if limit != tt.limit || set != tt.set {
				t.Errorf("defaultMemoryLimit = %d, %v; want %d, %v", limit, set, tt.limit, tt.set)
			}
		})
	}
}
