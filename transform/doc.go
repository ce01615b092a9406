// Package transform compiles Feathr transform expressions, the Spark SQL
// row-level expressions of a feature's transform, into CEL programs and
// evaluates them for one decoded record at a time.
//
// An Env declares the fields of a source schema; Env.Compile type-checks an
// expression against them and against the feature's declared type;
// Program.Eval evaluates it for a record.Record and converts the result
// with feature.Convert. A feature without a transform uses its own name,
// a plain field, as the expression; Eval reads such a field directly.
//
// # Syntax
//
// Expressions are CEL, which shares most of its syntax with the Spark SQL
// that Feathr users write: trips_today + 1, x % 10, f(a, b), 'text'. Spark
// forms CEL lacks are errors whose Hint gives the CEL form: AND, OR, NOT
// (&&, ||, !), = and <> (== and !=), IF and CASE WHEN (c ? a : b or
// if_else), CAST(x AS INT) (cast_int(x)), IS [NOT] NULL (isnull,
// isnotnull, or x == null and x != null).
//
// # Semantics
//
// They follow Spark SQL with ANSI mode off, except where noted:
//
//   - Null: every field may be null (an Avro ["null", T] union, or a field
//     missing from the record). A null argument makes the result of an
//     operator or function null, except for coalesce, nvl, ifnull, nullif,
//     isnull, isnotnull, concat_ws, greatest, least (which skip nulls), and
//     the three-valued and, or (false && null is false, true || null is
//     true) and if_else (a null condition selects the else branch). a == b
//     is null when a side is null; x == null is isnull(x). A null result is
//     nil from Eval.
//   - Numbers: Avro int and long are CEL int (int64), float and double are
//     double. Mixing int and double promotes to double. / always gives a
//     double (7 / 2 is 3.5); % on ints is an int with the dividend's sign.
//     Division or remainder by zero gives null. Integer overflow in + - *
//     and in abs, round and negation is an error (Spark would wrap).
//     Comparisons work across int and double; NaN equals NaN and is above
//     every other number.
//   - Conversions: cast_int and cast_long truncate doubles toward zero and
//     fail out of range (Spark would wrap or saturate); cast_* of a string
//     parses it and gives null if it does not parse. The result of Eval is
//     converted to the declared feature type by feature.Convert, which
//     never parses strings; a type that can never convert (a string for
//     INT32, a list for BOOLEAN) is a Compile error.
//   - Time: timestamps are CEL timestamps, read and formatted in UTC. A
//     string where a timestamp is expected is parsed as
//     yyyy-MM-dd HH:mm:ss[.fraction], RFC 3339 or yyyy-MM-dd, or with the
//     given Java/Spark pattern; one that does not parse gives null.
//   - rand and randn ignore a seed: Spark's seeded sequence depends on its
//     partitioning and cannot be reproduced per event.
//
// # Functions
//
// Besides the operators, CEL's index (list[i], map['k']), in, and the type
// conversions int, double, string, bytes, bool, timestamp and duration
// (which do not accept null):
//
//	math     abs ceil ceiling floor round bround sqrt cbrt exp pow power
//	         log (natural, or log(base, x)) ln log10 log2 sin cos tan asin
//	         acos atan atan2 degrees radians signum sign pmod pi e rand randn
//	         greatest least
//	casts    cast_int cast_long cast_float cast_double cast_string cast_bool
//	logic    and or not if_else
//	nulls    coalesce nvl ifnull nullif isnull isnotnull
//	strings  lower lcase upper ucase concat concat_ws substring substr
//	         length char_length size trim ltrim rtrim reverse repeat replace
//	         instr lpad rpad split regexp_extract regexp_replace rlike
//	         startswith endswith contains, and the methods s.startsWith,
//	         s.endsWith, s.matches, s.size
//	time     year quarter month dayofmonth day dayofweek (1 = Sunday)
//	         weekday (0 = Monday) dayofyear weekofyear hour minute second
//	         to_unix_timestamp unix_timestamp from_unixtime date_format
//	         to_timestamp unix_seconds unix_millis unix_micros
//	         timestamp_seconds timestamp_millis timestamp_micros datediff
//	         current_timestamp now
//
// Variadic functions (concat, concat_ws, coalesce, greatest, least) take up
// to 8 arguments. Regular expressions are Go's RE2 syntax, which covers
// Java's except look-around and back references; a regexp_replace
// replacement uses Java's $1. Constant regular expressions and datetime
// patterns are compiled once, and reported at Compile when invalid.
//
// transform imports only record, feature and internal/nearest of feathr's
// packages, besides cel-go; it knows nothing of the config file, of
// decoding or of the store. plan compiles the programs and pipeline
// evaluates them. The fast path is in the fast*.go files (see
// fastcompile.go).
package transform
