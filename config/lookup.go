package config

// Source returns the source with the given name, or nil.
func (f *File) Source(name string) *Source {
	for _, s := range f.Sources {
		if s.Name == name {
			return s
		}
	}
	return nil
}

// Key returns the key with the given name, or nil.
func (f *File) Key(name string) *Key {
	for _, k := range f.Keys {
		if k.Name == name {
			return k
		}
	}
	return nil
}

// Anchor returns the anchor with the given name, or nil.
func (f *File) Anchor(name string) *Anchor {
	for _, a := range f.Anchors {
		if a.Name == name {
			return a
		}
	}
	return nil
}

// Feature returns the feature with the given name, from any anchor, or nil.
func (f *File) Feature(name string) *Feature {
	for _, a := range f.Anchors {
		for _, ft := range a.Features {
			if ft.Name == name {
				return ft
			}
		}
	}
	return nil
}

// Materialization returns the materialization with the given name, or nil.
func (f *File) Materialization(name string) *Materialization {
	for _, m := range f.Materializations {
		if m.Name == name {
			return m
		}
	}
	return nil
}

// AnchorKeys returns the anchor's keys in order; a name that is not defined in
// f gives a nil entry.
func (f *File) AnchorKeys(a *Anchor) []*Key {
	keys := make([]*Key, len(a.Key))
	for i, name := range a.Key {
		keys[i] = f.Key(name)
	}
	return keys
}
