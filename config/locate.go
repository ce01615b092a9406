package config

import (
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// source is the text of a YAML file, split into lines the way the YAML
// scanner counts them.
type source struct {
	b     []byte
	lines []int // byte offset where each line starts
}

func newSource(b []byte) *source {
	s := &source{b: b, lines: []int{0}}
	for i := 0; i < len(b); {
		if n := breakLen(b[i:]); n > 0 {
			i += n
			s.lines = append(s.lines, i)
			continue
		}
		i++
	}
	return s
}

// breakLen returns the length of the line break at the start of b, or 0.
// Like the YAML scanner, it counts CR LF, CR, LF, NEL, LS and PS.
func breakLen(b []byte) int {
	switch {
	case len(b) == 0:
		return 0
	case b[0] == '\r':
		if len(b) > 1 && b[1] == '\n' {
			return 2
		}
		return 1
	case b[0] == '\n':
		return 1
	case len(b) > 1 && b[0] == 0xC2 && b[1] == 0x85:
		return 2
	case len(b) > 2 && b[0] == 0xE2 && b[1] == 0x80 && (b[2] == 0xA8 || b[2] == 0xA9):
		return 3
	}
	return 0
}

// lineEnd returns the offset of the end of the line that starts at off.
func (s *source) lineEnd(off int) int {
	for off < len(s.b) && breakLen(s.b[off:]) == 0 {
		off++
	}
	return off
}

// offset returns the byte offset of pos, or -1 if pos is not in the file.
func (s *source) offset(pos Pos) int {
	if pos.Line < 1 || pos.Line > len(s.lines) || pos.Column < 1 {
		return -1
	}
	off := s.lines[pos.Line-1]
	end := s.lineEnd(off)
	for c := 1; c < pos.Column; c++ {
		if off >= end {
			return -1
		}
		_, n := utf8.DecodeRune(s.b[off:])
		off += n
	}
	return off
}

// locator maps the runes of a scalar's text to positions in the file.
type locator struct {
	lines []int // index in pos of the first rune of each line of the text
	pos   []Pos // position of each rune of the text, then one past the end
}

// at returns the file position of line and column (1-based, in runes) of
// the text. A column past the end of its line extends that line.
func (l *locator) at(line, col int) Pos {
	line = max(1, min(line, len(l.lines)))
	col = max(col, 1)
	start := l.lines[line-1]
	end := len(l.pos) - 1
	if line < len(l.lines) {
		end = l.lines[line] - 1 // the '\n'
	}
	if i := start + col - 1; i <= end {
		return l.pos[i]
	}
	p := l.pos[end]
	p.Column += start + col - 1 - end
	return p
}

// locate builds the locator of the scalar n, whose text is n.Value. It
// returns nil if n cannot be found in the source.
func (s *source) locate(n *yaml.Node) *locator {
	if s == nil || n == nil || n.Kind != yaml.ScalarNode {
		return nil
	}
	start := s.offset(nodePos(n))
	if start < 0 {
		return nil
	}
	text := n.Value
	l := &locator{lines: []int{0}, pos: make([]Pos, 0, utf8.RuneCountInString(text)+1)}
	for i, r := range []rune(text) {
		if r == '\n' {
			l.lines = append(l.lines, i+1)
		}
	}
	switch n.Style &^ (yaml.TaggedStyle | yaml.FlowStyle) {
	case yaml.LiteralStyle:
		s.literal(l, n, text)
	case yaml.FoldedStyle:
		if n.Line >= len(s.lines) {
			return nil
		}
		s.align(l, s.lines[n.Line], text, false)
	default:
		off := s.skipProperties(start)
		dq := false
		if off < len(s.b) && (s.b[off] == '"' || s.b[off] == '\'') {
			dq = s.b[off] == '"'
			off++
		}
		s.align(l, off, text, dq)
	}
	return l
}

// skipProperties skips a node's tag and anchor (!!str, &name) at off.
func (s *source) skipProperties(off int) int {
	for off < len(s.b) && (s.b[off] == '!' || s.b[off] == '&') {
		for off < len(s.b) && !isBlank(s.b[off]) && breakLen(s.b[off:]) == 0 {
			off++
		}
		for off < len(s.b) && (isBlank(s.b[off]) || breakLen(s.b[off:]) > 0) {
			off++
		}
	}
	return off
}

func isBlank(b byte) bool { return b == ' ' || b == '\t' }

// literal locates the text of a literal block scalar: line k of the text
// is line k of the block, after its indentation.
func (s *source) literal(l *locator, n *yaml.Node, text string) {
	indent := n.Column
	for line := n.Line; line < len(s.lines); line++ { // s.lines[line] starts line+1
		off, end := s.lines[line], s.lineEnd(s.lines[line])
		i := off
		for i < end && s.b[i] == ' ' {
			i++
		}
		if i < end {
			indent = i - off
			break
		}
	}
	p := Pos{Line: n.Line + 1, Column: indent + 1}
	for _, r := range text {
		l.pos = append(l.pos, p)
		if r == '\n' {
			p = Pos{Line: p.Line + 1, Column: indent + 1}
		} else {
			p.Column++
		}
	}
	l.pos = append(l.pos, p)
}

// maxSkip bounds how far align looks for a rune of the text in the file.
const maxSkip = 256

// align locates text, read from the file at off, by matching its runes to
// the file's in order: what the file has in between (indentation, folded
// line breaks, quotes doubled or escaped) is skipped. A line break or
// blank of the text matches any blank or line break. dq reports a
// double-quoted scalar, whose escape sequences each give one rune.
func (s *source) align(l *locator, off int, text string, dq bool) {
	// Find the position of off.
	line := 1
	for line < len(s.lines) && s.lines[line] <= off {
		line++
	}
	cur := Pos{Line: line, Column: 1 + utf8.RuneCount(s.b[s.lines[line-1]:off])}

	// next returns the position and offset after the rune or break at o.
	next := func(o int, p Pos) (int, Pos) {
		if n := breakLen(s.b[o:]); n > 0 {
			return o + n, Pos{Line: p.Line + 1, Column: 1}
		}
		_, n := utf8.DecodeRune(s.b[o:])
		p.Column++
		return o + n, p
	}
	for _, r := range text {
		o, p, found := off, cur, false
		for skipped := 0; o < len(s.b) && skipped < maxSkip; skipped++ {
			c := s.b[o]
			if dq && c == '\\' {
				if o+1 < len(s.b) && breakLen(s.b[o+1:]) > 0 { // escaped line break
					o, p = next(o+1, p)
					continue
				}
				found = true
				esc := 2
				if o+1 < len(s.b) {
					switch s.b[o+1] {
					case 'x':
						esc = 4
					case 'u':
						esc = 6
					case 'U':
						esc = 10
					}
				}
				l.pos = append(l.pos, p)
				for k := 0; k < esc && o < len(s.b); k++ {
					o, p = next(o, p)
				}
				break
			}
			fr, _ := utf8.DecodeRune(s.b[o:])
			if fr == r || isSpace(r) && (isBlank(c) || breakLen(s.b[o:]) > 0) {
				found = true
				l.pos = append(l.pos, p)
				o, p = next(o, p)
				break
			}
			o, p = next(o, p)
		}
		if found {
			off, cur = o, p
		} else {
			l.pos = append(l.pos, cur)
		}
	}
	l.pos = append(l.pos, cur)
}

func isSpace(r rune) bool { return r == ' ' || r == '\t' || r == '\n' }
