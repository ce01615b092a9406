package config

import (
	"errors"
	"os"
	"testing"
)

// FuzzParse checks that Parse never panics, that its errors are located,
// and that positions can be asked of whatever it returns.
func FuzzParse(f *testing.F) {
	if data, err := os.ReadFile(examplePath); err == nil {
		f.Add(data)
	}
	f.Add([]byte(base))
	f.Add([]byte(envSrc))
	vars := env(map[string]string{"EVENTHUB_CONN": "conn", "TOPIC": "t", "REDIS_HOST": "h"})
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := Parse("fuzz.yaml", data, vars)
		if file == nil {
			t.Fatal("nil File")
		}
		if err != nil {
			var errs Errors
			if !errors.As(err, &errs) || len(errs) == 0 {
				t.Fatalf("error is not a non-empty Errors: %v", err)
			}
			for _, e := range errs {
				if e.Line < 1 || e.Column < 1 || e.File != "fuzz.yaml" {
					t.Fatalf("unlocated error: %v", e)
				}
			}
		}
		for _, s := range file.Sources {
			s.SchemaAt(1, 1)
			s.SchemaAt(3, 200)
			s.SchemaAtOffset(len(s.Schema) / 2)
			s.SchemaAtOffset(-1)
		}
		for _, a := range file.Anchors {
			for _, ft := range a.Features {
				ft.TransformAt(1, 1)
				ft.TransformAt(2, 3)
				ft.TransformAt(1<<20, 1<<20)
				_ = ft.Expr()
			}
		}
	})
}
