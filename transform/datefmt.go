package transform

import (
	"fmt"
	"strings"
)

// javaLayout translates a Java/Spark datetime pattern (yyyy-MM-dd HH:mm:ss)
// to a Go time layout. It supports the letters y, M, L, d, D, H, h, m, s,
// S (after '.' or ','), a, E, z, Z, X and x, quoted literals ('T', ”),
// and refuses the rest rather than format them wrongly.
func javaLayout(p string) (string, error) {
	var b strings.Builder
	lastByte := func() byte {
		str := b.String()
		if str == "" {
			return 0
		}
		return str[len(str)-1]
	}
	for i := 0; i < len(p); {
		c := p[i]
		if c == '\'' {
			j := i + 1
			var lit strings.Builder
			for {
				if j >= len(p) {
					return "", fmt.Errorf("unterminated quote in datetime pattern %q", p)
				}
				if p[j] == '\'' {
					if j+1 < len(p) && p[j+1] == '\'' {
						lit.WriteByte('\'')
						j += 2
						continue
					}
					break
				}
				lit.WriteByte(p[j])
				j++
			}
			if j == i+1 { // '' is a quote
				lit.WriteByte('\'')
			}
			if err := literal(lit.String(), p); err != nil {
				return "", err
			}
			b.WriteString(lit.String())
			i = j + 1
			continue
		}
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			if err := literal(string(c), p); err != nil {
				return "", err
			}
			b.WriteByte(c)
			i++
			continue
		}
		n := 1
		for i+n < len(p) && p[i+n] == c {
			n++
		}
		i += n
		var tok string
		switch c {
		case 'y', 'u':
			tok = "2006"
			if n == 2 {
				tok = "06"
			}
		case 'M', 'L':
			tok = [...]string{"1", "01", "Jan", "January"}[min(n, 4)-1]
		case 'd':
			tok = pick(n, "2", "02")
		case 'D':
			tok = "002"
		case 'H':
			tok = "15"
		case 'h':
			tok = pick(n, "3", "03")
		case 'm':
			tok = pick(n, "4", "04")
		case 's':
			tok = pick(n, "5", "05")
		case 'S':
			if l := lastByte(); l != '.' && l != ',' {
				return "", fmt.Errorf("datetime pattern %q: fraction S must follow '.' or ','", p)
			}
			tok = strings.Repeat("0", min(n, 9))
		case 'a':
			tok = "PM"
		case 'E':
			tok = "Mon"
			if n >= 4 {
				tok = "Monday"
			}
		case 'z':
			tok = "MST"
		case 'Z':
			tok = "-0700"
			if n == 5 {
				tok = "-07:00"
			}
		case 'X':
			tok = [...]string{"Z07", "Z0700", "Z07:00"}[min(n, 3)-1]
		case 'x':
			tok = [...]string{"-07", "-0700", "-07:00"}[min(n, 3)-1]
		default:
			return "", fmt.Errorf("datetime pattern %q: unsupported letter %q", p, c)
		}
		b.WriteString(tok)
	}
	return b.String(), nil
}

func pick(n int, one, two string) string {
	if n == 1 {
		return one
	}
	return two
}

// literal refuses literal text that Go would read as part of a layout.
func literal(lit, p string) error {
	for _, bad := range []string{"Jan", "Mon", "MST", "PM", "pm"} {
		if strings.Contains(lit, bad) {
			return fmt.Errorf("datetime pattern %q: literal %q is not supported", p, lit)
		}
	}
	if strings.ContainsAny(lit, "0123456789") {
		return fmt.Errorf("datetime pattern %q: literal digits are not supported", p)
	}
	return nil
}
