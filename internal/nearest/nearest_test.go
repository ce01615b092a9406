package nearest

import "testing"

func TestName(t *testing.T) {
	cands := []string{"trips_today", "driver_id", "datetime", "acos", "n"}
	tests := []struct{ name, want string }{
		{"trip_today", "trips_today"},
		{"TRIPS_TODAY", "trips_today"},
		{"driverid", "driver_id"},
		{"frob", ""},
		{"x", ""},
		{"datetimes", "datetime"},
		{"nn", "n"},
	}
	for _, tt := range tests {
		if got := Name(tt.name, cands); got != tt.want {
			t.Errorf("Name(%q) = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestDistance(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"", "", 0}, {"a", "", 1}, {"kitten", "sitting", 3}, {"abc", "abc", 0}, {"ab", "ba", 2},
	}
	for _, tt := range tests {
		if got := Distance(tt.a, tt.b); got != tt.want {
			t.Errorf("Distance(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}
