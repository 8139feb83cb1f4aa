package config

import (
	"cmp"
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"github.com/kelseyhightower/envconfig"
)

// decode fills the struct that spec points to with values looked up through
// getenv, following envconfig's tags on its fields:
//
//	envconfig:"NAME"   the variable to read; fields without it are left alone
//	default:"VALUE"    used when the variable is unset
//	required:"true"    the variable must be set and hold at least one item
//	desc:"..."         what the variable holds; the error when it is missing
//
// It exists because envconfig.Process reads the process environment itself,
// with no way to pass getenv, and because its errors quote the value, which
// may be a secret. decode differs from it on purpose: a value of only
// spaces counts as unset, values are trimmed, and every problem is
// returned, one error per problem, as "NAME: what is wrong".
//
// A field is set by its envconfig.Decoder, or directly if it is a string.
// Decode errors must not repeat the value; an error that joins several
// (errors.Join) becomes one error per part.
func decode(getenv func(string) string, spec any) []error {
	v := reflect.ValueOf(spec).Elem()
	var errs []error
	for i := range v.NumField() {
		tag := v.Type().Field(i).Tag
		key := tag.Get("envconfig")
		if key == "" {
			continue
		}
		required, _ := strconv.ParseBool(tag.Get("required"))
		missing := fmt.Errorf("%s: %s", key, tag.Get("desc"))
		value := cmp.Or(strings.TrimSpace(getenv(key)), tag.Get("default"))
		if value == "" {
			if required {
				errs = append(errs, missing)
			}
			continue
		}
		f := v.Field(i)
		if err := set(f, value); err != nil {
			for _, e := range split(err) {
				errs = append(errs, fmt.Errorf("%s: %w", key, e))
			}
			continue
		}
		if required && (f.IsZero() || (f.Kind() == reflect.Slice || f.Kind() == reflect.Map) && f.Len() == 0) {
			errs = append(errs, missing) // a list of blanks
		}
	}
	return errs
}

// set decodes value into the field f.
func set(f reflect.Value, value string) error {
	if d, ok := f.Addr().Interface().(envconfig.Decoder); ok {
		return d.Decode(value)
	}
	if f.Kind() == reflect.String {
		f.SetString(value)
		return nil
	}
	// A programming error, caught by any test that calls Load.
	panic(fmt.Sprintf("config: a field of type %s needs a Decode method", f.Type()))
}

// split returns the errors that err joins, or err alone.
func split(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}
