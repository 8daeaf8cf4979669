package config

import (
	"reflect"
	"testing"
)

// TestPolicyDefaultsKeepsEveryField guards PolicyDefaults' field-by-field
// copy: every field of ReleasePolicySpec is set to some non-zero value by
// reflection, so a field added to the type but not to PolicyDefaults comes
// out zero here and the release's stored policy would silently drop it.
func TestPolicyDefaultsKeepsEveryField(t *testing.T) {
	var spec ReleasePolicySpec
	v := reflect.ValueOf(&spec).Elem()
	for i := 0; i < v.NumField(); i++ {
		setNonZero(t, v.Type().Field(i).Name, v.Field(i), 1)
	}
	out := reflect.ValueOf(PolicyDefaults(&spec))
	for i := 0; i < out.NumField(); i++ {
		if out.Field(i).IsZero() {
			t.Errorf("PolicyDefaults drops ReleasePolicySpec.%s", out.Type().Field(i).Name)
		}
	}
}

// setNonZero gives f a value that is not its type's zero value. A pointer
// to a struct also gets its fields set, depth levels down, so an optional
// section means something (a strategy with no blue/green in it is none).
func setNonZero(t *testing.T, name string, f reflect.Value, depth int) {
	t.Helper()
	switch f.Kind() {
	case reflect.Pointer:
		f.Set(reflect.New(f.Type().Elem()))
		if e := f.Elem(); e.Kind() == reflect.Struct && depth > 0 {
			for i := 0; i < e.NumField(); i++ {
				if e.Type().Field(i).IsExported() && e.Field(i).Kind() == reflect.Pointer {
					setNonZero(t, name+"."+e.Type().Field(i).Name, e.Field(i), depth-1)
				}
			}
		}
	case reflect.Slice:
		f.Set(reflect.MakeSlice(f.Type(), 1, 1))
	case reflect.String:
		f.SetString("x")
	case reflect.Int, reflect.Int64, reflect.Int32:
		f.SetInt(1)
	case reflect.Float64:
		f.SetFloat(1)
	case reflect.Bool:
		f.SetBool(true)
	default:
		t.Fatalf("ReleasePolicySpec.%s: kind %s not handled by this test", name, f.Kind())
	}
}
