package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseBins(t *testing.T) {
	bins, err := parseBins(" old=/tmp/feathr-old , new=bin/feathr")
	if err != nil {
		t.Fatal(err)
	}
	if len(bins) != 2 || bins[0] != (binary{Label: "old", Path: "/tmp/feathr-old"}) || bins[1] != (binary{Label: "new", Path: "bin/feathr"}) {
		t.Errorf("parseBins = %+v", bins)
	}
	for _, bad := range []string{"", "old", "=x", "old=", "a=x,a=y"} {
		if _, err := parseBins(bad); err == nil {
			t.Errorf("parseBins(%q): no error", bad)
		}
	}
	dir := t.TempDir()
	plain := filepath.Join(dir, "plain")
	if err := os.WriteFile(plain, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, b := range []binary{{Label: "gone", Path: filepath.Join(dir, "gone")}, {Label: "plain", Path: plain}, {Label: "dir", Path: dir}} {
		if err := b.check(); err == nil {
			t.Errorf("%s: check passed", b.Label)
		}
	}
	self, err := os.Executable()
	if err != nil {
		t.Skip(err)
	}
	b := binary{Label: "self", Path: self}
	if err := b.check(); err != nil {
		t.Errorf("the test binary: %v", err)
	}
	if got := (binary{Label: "new/x y"}).fileLabel(); got != "new_x_y" {
		t.Errorf("fileLabel = %q", got)
	}
}

func TestSetRuns(t *testing.T) {
	runs := []runResult{
		{Bin: "old", Round: 1, EventsPerSec: 100},
		{Bin: "new", Round: 1, EventsPerSec: 130},
		{Bin: "old", Round: 2, EventsPerSec: 90, Check: "3 keys in Redis, want 4"},
		{Bin: "new", Round: 2, EventsPerSec: 110},
		{Bin: "new", Round: 3, EventsPerSec: 120},
	}
	var p profileResult
	p.setRuns(runs, "new")
	if p.Bin != "new" || p.Round != 3 || p.EventsPerSec != 120 {
		t.Errorf("shown run: %+v, want new's median, round 3", p.runResult)
	}
	if p.Check != "old round 2: 3 keys in Redis, want 4" {
		t.Errorf("check %q", p.Check)
	}
	if len(p.Runs) != 5 {
		t.Errorf("%d runs kept, want 5", len(p.Runs))
	}
	p = profileResult{}
	p.setRuns([]runResult{{Bin: "feathr", Round: 1, EventsPerSec: 7, Check: "read 1 of 2 events"}}, "feathr")
	if p.EventsPerSec != 7 || p.Runs != nil || p.Check != "read 1 of 2 events" {
		t.Errorf("one run: %+v", p)
	}
}

func TestMedian(t *testing.T) {
	for _, tt := range []struct {
		in   []float64
		want float64
	}{{nil, 0}, {[]float64{3}, 3}, {[]float64{4, 1}, 2.5}, {[]float64{5, 1, 3}, 3}} {
		if got := median(tt.in); got != tt.want {
			t.Errorf("median(%v) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestABTable(t *testing.T) {
	res := &results{
		Settings: settings{Bins: []binary{{Label: "old"}, {Label: "new"}}, Repeat: 2},
		Profiles: []profileResult{{Name: "hot", Runs: []runResult{
			{Bin: "old", Round: 1, EventsPerSec: 100000, CPUMicrosPerEvent: 6, PeakRSSMB: 80},
			{Bin: "new", Round: 1, EventsPerSec: 120000, CPUMicrosPerEvent: 5, PeakRSSMB: 90},
			{Bin: "old", Round: 2, EventsPerSec: 110000, CPUMicrosPerEvent: 5, PeakRSSMB: 82},
			{Bin: "new", Round: 2, EventsPerSec: 126000, CPUMicrosPerEvent: 4, PeakRSSMB: 88},
		}}},
	}
	got := abTable(res)
	for _, want := range []string{
		"ratios against old",
		"| hot | old | 100.0k, 110.0k | 105.0k | 5.5 | 81 MB | – | – | – |",
		"| hot | new | 120.0k, 126.0k | 123.0k | 4.5 | 89 MB | 1.17× | 0.82× | 1.1× |",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("A/B table lacks %q:\n%s", want, got)
		}
	}
	if got := abTable(&results{Profiles: []profileResult{{Name: "hot"}}}); got != "" {
		t.Errorf("one run: %q", got)
	}
	if !strings.Contains(markdown(res), "| hot | new | 120.0k, 126.0k |") {
		t.Error("markdown lacks the A/B table")
	}
}

// TestOldResults checks that results written before runs were split out
// of profiles still read into the profile's shown run.
func TestOldResults(t *testing.T) {
	b, err := os.ReadFile("results/2026-11-26T1307Z-vm.json")
	if err != nil {
		t.Skip(err)
	}
	var res results
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatal(err)
	}
	if len(res.Profiles) == 0 || res.Profiles[0].EventsPerSec == 0 || res.Profiles[0].PeakRSSMB == 0 {
		t.Fatalf("profiles %+v", res.Profiles)
	}
	if md := markdown(&res); !strings.Contains(md, "| distinct | 2,000,000 | 2,000,000 |") {
		t.Errorf("markdown of the 2026-11-26 run:\n%s", md)
	}
}
