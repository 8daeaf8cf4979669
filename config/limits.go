package config

import (
	"fmt"
	"reflect"
	"strconv"
)

// Upper bounds of numeric fields are declared on the field itself, with a
// `max:"N"` tag, and checked by one walker (checkMaxima) for every
// document, from Parse and inside the state machine alike. Lower bounds and
// rules that relate fields stay with the kind's rules, where their
// messages can say what the field means. Without an upper bound a count
// such as minRequests: 18446744073709551616 would be accepted and turn
// every comparison into "never enough data".

// checkMaxima reports every numeric field over its `max` tag, walking v
// (a document body) with the decoder's paths.
func checkMaxima(r *reporter, v reflect.Value, path string) {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			checkMaxima(r, v.Elem(), path)
		}
	case reflect.Struct:
		t := v.Type()
		for _, f := range structFields(t) {
			fv := v.Field(f.index)
			fpath := joinPath(path, f.name)
			if tag, ok := t.Field(f.index).Tag.Lookup("max"); ok {
				checkMax(r, fpath, fv, tag)
				continue
			}
			checkMaxima(r, fv, fpath)
		}
	case reflect.Slice, reflect.Array:
		if v.Type().Elem().Kind() == reflect.String {
			return
		}
		for i := range v.Len() {
			checkMaxima(r, v.Index(i), fmt.Sprintf("%s[%d]", path, i))
		}
	case reflect.Map:
		if v.Type().Elem().Kind() == reflect.String {
			return
		}
		for _, k := range v.MapKeys() {
			kpath := fmt.Sprintf("%s[%q]", path, k.String())
			if plainKey.MatchString(k.String()) {
				kpath = joinPath(path, k.String())
			}
			checkMaxima(r, v.MapIndex(k), kpath)
		}
	}
}

// checkMax checks one tagged field (a number or a pointer to one).
func checkMax(r *reporter, path string, v reflect.Value, tag string) {
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return
		}
		v = v.Elem()
	}
	limit, err := strconv.ParseFloat(tag, 64)
	if err != nil {
		panic(fmt.Sprintf("config: field %s: bad max tag %q", path, tag))
	}
	var got float64
	switch v.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		got = float64(v.Int())
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		got = float64(v.Uint())
	case reflect.Float32, reflect.Float64:
		got = v.Float()
	default:
		panic(fmt.Sprintf("config: field %s: max tag on a %s", path, v.Kind()))
	}
	if got > limit {
		r.addf(path, "must be at most %s, got %s", strconv.FormatFloat(limit, 'f', -1, 64), strconv.FormatFloat(got, 'g', -1, 64))
	}
}
