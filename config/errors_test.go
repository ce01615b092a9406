package config

import (
	"errors"
	"io/fs"
	"testing"
)

func TestErrorString(t *testing.T) {
	for _, tt := range []struct {
		err  *Error
		want string
	}{
		{Errorf("f.yaml", Pos{3, 7}, "bad %s", "thing"), "f.yaml:3:7: bad thing"},
		{Errorf("f.yaml", Pos{3, 0}, "bad"), "f.yaml:3: bad"},
		{Errorf("f.yaml", Pos{}, "bad"), "f.yaml: bad"},
		{Errorf("", Pos{1, 2}, "bad"), "1:2: bad"},
		{Errorf("", Pos{}, "bad"), "bad"},
	} {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("got %q, want %q", got, tt.want)
		}
	}
}

func TestErrorfWraps(t *testing.T) {
	e := Errorf("f.yaml", Pos{1, 1}, "schema: %w", fs.ErrNotExist)
	if !errors.Is(e, fs.ErrNotExist) || e.Msg != "schema: file does not exist" {
		t.Errorf("got %v (%q)", e, e.Msg)
	}
	if errors.Unwrap(Errorf("f", Pos{}, "plain")) != nil {
		t.Error("an error without %w unwraps")
	}
	var errs error = Errors{Errorf("a", Pos{1, 1}, "x"), e}
	if !errors.Is(errs, fs.ErrNotExist) {
		t.Error("errors.Is does not reach into Errors")
	}
	var one *Error
	if !errors.As(errs, &one) || one.Msg != "x" {
		t.Errorf("errors.As: %v", one)
	}
}

func TestErrorsSortAndString(t *testing.T) {
	errs := Errors{
		Errorf("b.yaml", Pos{1, 1}, "5"),
		Errorf("a.yaml", Pos{10, 2}, "4"),
		Errorf("a.yaml", Pos{2, 9}, "2"),
		Errorf("a.yaml", Pos{2, 1}, "1"),
		Errorf("a.yaml", Pos{2, 9}, "3"),
	}
	err := errs.Err()
	want := "a.yaml:2:1: 1\na.yaml:2:9: 2\na.yaml:2:9: 3\na.yaml:10:2: 4\nb.yaml:1:1: 5"
	if err == nil || err.Error() != want {
		t.Errorf("got\n%v\nwant\n%s", err, want)
	}
	if Errors(nil).Err() != nil {
		t.Error("empty Errors is not a nil error")
	}
}

func TestPos(t *testing.T) {
	if s := (Pos{3, 14}).String(); s != "3:14" {
		t.Errorf("String = %q", s)
	}
	if !(Pos{1, 5}).Before(Pos{2, 1}) || !(Pos{2, 1}).Before(Pos{2, 2}) || (Pos{2, 2}).Before(Pos{2, 2}) {
		t.Error("Before")
	}
	if (Pos{}).IsValid() || !(Pos{1, 1}).IsValid() {
		t.Error("IsValid")
	}
}
