package config

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Error is a problem at a position in a file.
type Error struct {
	File string
	Pos
	Msg string

	err error // wrapped by Msg, if any
}

// Errorf returns an Error at pos in file. The message is formatted as by
// fmt.Errorf, so a %w verb wraps its argument for errors.Is and errors.As.
func Errorf(file string, pos Pos, format string, args ...any) *Error {
	err := fmt.Errorf(format, args...)
	e := &Error{File: file, Pos: pos, Msg: err.Error()}
	switch err.(type) {
	case interface{ Unwrap() error }, interface{ Unwrap() []error }:
		e.err = err
	}
	return e
}

// Error returns "FILE:LINE:COLUMN: msg". Parts that are unknown (an empty
// file name, a zero line or column) are left out.
func (e *Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		b.WriteByte(':')
	}
	if e.Line > 0 {
		b.WriteString(strconv.Itoa(e.Line))
		b.WriteByte(':')
		if e.Column > 0 {
			b.WriteString(strconv.Itoa(e.Column))
			b.WriteByte(':')
		}
	}
	if b.Len() > 0 {
		b.WriteByte(' ')
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Unwrap returns the error formatted by Errorf if its format wrapped
// errors with %w, so that errors.Is and errors.As reach them.
func (e *Error) Unwrap() error { return e.err }

// String returns the position as "LINE:COLUMN".
func (p Pos) String() string {
	return strconv.Itoa(p.Line) + ":" + strconv.Itoa(p.Column)
}

// IsValid reports whether p is a known position (Line > 0).
func (p Pos) IsValid() bool { return p.Line > 0 }

// Before reports whether p comes before q in a file.
func (p Pos) Before(q Pos) bool {
	return p.Line < q.Line || p.Line == q.Line && p.Column < q.Column
}

// Errors is a list of located errors, one per line when printed.
type Errors []*Error

// Error returns the errors, one per line.
func (e Errors) Error() string {
	var b strings.Builder
	for i, err := range e {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(err.Error())
	}
	return b.String()
}

// Unwrap returns the errors for errors.Is and errors.As.
func (e Errors) Unwrap() []error {
	errs := make([]error, len(e))
	for i, err := range e {
		errs[i] = err
	}
	return errs
}

// Sort sorts the errors by file, then position. Errors at the same
// position keep their order.
func (e Errors) Sort() {
	slices.SortStableFunc(e, func(a, b *Error) int {
		return cmp.Or(
			strings.Compare(a.File, b.File),
			cmp.Compare(a.Line, b.Line),
			cmp.Compare(a.Column, b.Column),
		)
	})
}

// Err returns e sorted as an error, or nil if e is empty.
func (e Errors) Err() error {
	if len(e) == 0 {
		return nil
	}
	e.Sort()
	return e
}
