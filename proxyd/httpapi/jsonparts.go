package httpapi

// The pieces of a REST fetch's JSON (this and AppendResultJSON), exported
// for the REST floor (internal/cmd/floorserver -loop rest): a relay that does
// nothing but a fetch, measured beside proxyd, answers with proxyd's bytes
// because it writes them with proxyd's own code, and no second encoder is
// kept in step by hand.

// AppendJSONString appends s as a JSON string, escaped as proxyd escapes text.
func AppendJSONString(b []byte, s string) []byte { return appendJSONString(b, s) }
