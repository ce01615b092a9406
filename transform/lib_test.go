package transform

import (
	"math"
	"testing"

	"github.com/feathrgo/feathr/feature"
)

func TestMath(t *testing.T) {
	e := newEnv(t)
	D, I, B := feature.Double, feature.Int64, feature.Boolean
	runEval(t, e, sample(), []evalCase{
		{"abs(-3)", I, int64(3)}, {"abs(-2.5)", D, 2.5}, {"abs(bonus)", I, nil},
		{"abs(-9223372036854775807 - 1)", I, errWant("overflow")},
		{"ceil(1.2)", I, int64(2)}, {"ceil(-1.2)", I, int64(-1)}, {"ceil(3)", I, int64(3)}, {"ceil(fare)", I, nil},
		{"ceiling(1.2)", I, int64(2)},
		{"floor(1.8)", I, int64(1)}, {"floor(-1.2)", I, int64(-2)}, {"floor(fare)", I, nil},
		{"ceil(1e300)", I, errWant("out of range")},
		// round is HALF_UP on the decimal value, as Spark.
		{"round(2.5)", D, 3.0}, {"round(-2.5)", D, -3.0}, {"round(0.5)", D, 1.0}, {"round(1.4)", D, 1.0},
		{"round(2.675, 2)", D, 2.68}, {"round(1.005, 2)", D, 1.01}, {"round(-1.005, 2)", D, -1.01},
		{"round(1234.5678, -2)", D, 1200.0}, {"round(0.04)", D, 0.0}, {"round(123.456, 5)", D, 123.456},
		{"round(1250, -2)", I, int64(1300)}, {"round(-1250, -2)", I, int64(-1300)}, {"round(7, 2)", I, int64(7)},
		{"round(fare)", D, nil}, {"round(fare, 2)", D, nil}, {"round(trip_distance, bonus)", D, nil},
		{"round(9223372036854775807, -1)", I, errWant("overflow")},
		{"round(cast_double('NaN'))", D, math.NaN()},
		// bround is HALF_EVEN.
		{"bround(2.5)", D, 2.0}, {"bround(3.5)", D, 4.0}, {"bround(-2.5)", D, -2.0}, {"bround(2.675, 2)", D, 2.68},
		{"bround(2.665, 2)", D, 2.66}, {"bround(1250, -2)", I, int64(1200)}, {"bround(1350, -2)", I, int64(1400)},
		{"bround(fare)", D, nil},
		{"sqrt(16)", D, 4.0}, {"sqrt(-1.0)", D, math.NaN()}, {"sqrt(fare)", D, nil},
		{"cbrt(27)", D, 3.0},
		{"pow(2, 10)", D, 1024.0}, {"power(2.0, 0.5)", D, math.Sqrt2}, {"pow(fare, 2)", D, nil}, {"pow(2, bonus)", D, nil},
		{"exp(0)", D, 1.0}, {"exp(fare)", D, nil},
		{"log(e())", D, 1.0}, {"log(0)", D, nil}, {"log(-1.0)", D, nil}, {"log(2, 8)", D, 3.0}, {"log(10.0, 100.0)", D, 2.0},
		{"log(1, 8)", D, math.Inf(1)}, {"log(0, 8)", D, nil}, {"log(fare)", D, nil}, {"log(2, fare)", D, nil},
		{"ln(1)", D, 0.0}, {"ln(0)", D, nil}, {"log10(1000)", D, 3.0}, {"log10(-5)", D, nil}, {"log2(8)", D, 3.0},
		{"sin(0)", D, 0.0}, {"cos(0)", D, 1.0}, {"tan(0)", D, 0.0}, {"cos(fare)", D, nil},
		{"asin(1)", D, math.Pi / 2}, {"acos(1)", D, 0.0}, {"atan(0)", D, 0.0}, {"atan2(1, 1)", D, math.Pi / 4},
		{"degrees(pi())", D, 180.0}, {"radians(180)", D, math.Pi},
		{"signum(-3)", D, -1.0}, {"signum(2.5)", D, 1.0}, {"sign(0)", D, 0.0}, {"signum(fare)", D, nil},
		{"pmod(-7, 3)", I, int64(2)}, {"pmod(7, -3)", I, int64(1)}, {"pmod(-7.5, 2)", D, 0.5}, {"pmod(7, 0)", I, nil},
		{"rand() >= 0.0 && rand() < 1.0", B, true}, {"rand(42) < 1.0", B, true}, {"randn(7) == randn(7)", B, false},
		{"greatest(1, 5, 3)", I, int64(5)}, {"greatest(1, 2.5)", D, 2.5}, {"greatest(3, 2.5)", D, 3.0},
		{"greatest(bonus, 2)", I, int64(2)}, {"greatest(bonus, bonus)", I, nil}, {"greatest('a', 'c', 'b')", feature.String, "c"},
		{"greatest(1, 2, 3, 4, 5, 6, 7, 8)", I, int64(8)},
		{"least(4, 2, 3)", I, int64(2)}, {"least(2.5, 3)", D, 2.5}, {"least(fare, rating, 9.0)", D, 4.5},
		{"greatest(cast_double('NaN'), 1.0)", D, math.NaN()},
	})
}

func TestCasts(t *testing.T) {
	e := newEnv(t)
	D, I, S, B := feature.Double, feature.Int64, feature.String, feature.Boolean
	runEval(t, e, sample(), []evalCase{
		{"cast_int(3.99)", I, int64(3)}, {"cast_int(-3.99)", I, int64(-3)}, {"cast_int(' 42 ')", I, int64(42)},
		{"cast_int('1.9')", I, int64(1)}, {"cast_int('abc')", I, nil}, {"cast_int(true)", I, int64(1)},
		{"cast_int(fare)", I, nil}, {"cast_int(3e9)", I, errWant("out of range")},
		{"cast_int(3000000000)", I, errWant("out of range")}, {"cast_int(cast_double('NaN'))", I, errWant("out of range")},
		{"cast_int(datetime)", I, int64(ts.Unix())},
		{"cast_long(3e9)", I, int64(3e9)}, {"cast_long('9223372036854775807')", I, int64(math.MaxInt64)},
		{"cast_long(1e19)", I, errWant("out of range")},
		{"cast_double(3)", D, 3.0}, {"cast_double('2.5')", D, 2.5}, {"cast_double('x')", D, nil},
		{"cast_double(false)", D, 0.0}, {"cast_double(fare)", D, nil}, {"cast_double('Infinity')", D, math.Inf(1)},
		{"cast_float(0.1)", D, float64(float32(0.1))}, {"cast_float(trip_distance) > 30", B, true},
		{"cast_float('1.5')", feature.Float, float32(1.5)},
		{"cast_string(7)", S, "7"}, {"cast_string(1.0)", S, "1.0"}, {"cast_string(0.001)", S, "0.001"},
		{"cast_string(1e7)", S, "1.0E7"}, {"cast_string(1.5e-4)", S, "1.5E-4"}, {"cast_string(true)", S, "true"},
		{"cast_string(datetime)", S, "2024-05-04 07:08:09.123456"}, {"cast_string(tags)", S, "[a, b]"},
		{"cast_string(bonus)", S, nil}, {"cast_string(city)", S, "Seattle"},
		{"cast_bool('yes')", B, true}, {"cast_bool('F')", B, false}, {"cast_bool('maybe')", B, nil},
		{"cast_bool(0)", B, false}, {"cast_bool(2.5)", B, true}, {"cast_bool(active)", B, nil},
	})
}

func TestStrings(t *testing.T) {
	e := newEnv(t)
	I, S, B := feature.Int64, feature.String, feature.Boolean
	runEval(t, e, sample(), []evalCase{
		{"lower(city)", S, "seattle"}, {"upper(city)", S, "SEATTLE"}, {"lcase('AB')", S, "ab"}, {"ucase(note)", S, nil},
		{"concat(city, '-', 'x')", S, "Seattle-x"}, {"concat(city)", S, "Seattle"}, {"concat('a', note)", S, nil},
		{"concat('1','2','3','4','5','6','7','8')", S, "12345678"},
		{"concat_ws(',', tags)", S, "a,b"}, {"concat_ws(note, 'a')", S, nil},
		{"substring(city, 2)", S, "eattle"}, {"substring(city, 1, 3)", S, "Sea"}, {"substring(city, 0, 3)", S, "Sea"},
		{"substring(city, -3)", S, "tle"}, {"substring(city, -3, 2)", S, "tl"}, {"substring(city, -10, 5)", S, "Se"},
		{"substring(city, 20)", S, ""}, {"substring(city, 2, -1)", S, ""}, {"substr('héllo', 2, 2)", S, "él"},
		{"substring(note, 1)", S, nil}, {"substring(city, bonus)", S, nil},
		{"length(city)", I, int64(7)}, {"length('héllo')", I, int64(5)}, {"length(note)", I, nil},
		{"char_length(b'ab')", I, int64(2)},
		{"trim('  a b  ')", S, "a b"}, {"ltrim('  a ')", S, "a "}, {"rtrim('  a ')", S, "  a"}, {"trim(note)", S, nil},
		{"size(split('a,b,,c', ','))", I, int64(4)}, {"split('a1b22c', '[0-9]+')[2]", S, "c"},
		{"size(split('a,b,c', ',', 2))", I, int64(2)}, {"size(split('a,b,', ','))", I, int64(3)}, {"size(split(note, ','))", I, nil},
		{"regexp_extract('100-200', '(\\\\d+)-(\\\\d+)', 1)", S, "100"}, {"regexp_extract('100-200', '(\\\\d+)-(\\\\d+)', 2)", S, "200"},
		{"regexp_extract('100-200', '(\\\\d+)-(\\\\d+)')", S, "100"}, {"regexp_extract('foo', '(\\\\d+)', 1)", S, ""},
		{"regexp_extract('100', '(\\\\d+)', 3)", S, errWant("group")}, {"regexp_extract(note, '(a)', 1)", S, nil},
		{"regexp_extract(city, concat('(S', 'ea)'), 1)", S, "Sea"},
		{"regexp_replace('a1b2', '[0-9]', 'X')", S, "aXbX"}, {"regexp_replace('ab', '(a)(b)', '$2$1')", S, "ba"},
		{"regexp_replace('ab', '(a)', '$1x')", S, "axb"}, {"regexp_replace(note, 'a', 'b')", S, nil},
		{"rlike(city, '^Sea')", B, true}, {"city.matches('tle$')", B, true}, {"rlike(note, 'a')", B, nil},
		{"startswith(city, 'Sea')", B, true}, {"city.startsWith('x')", B, false}, {"endswith(city, 'tle')", B, true},
		{"city.endsWith('tle')", B, true}, {"contains(city, 'att')", B, true}, {"city.contains('att')", B, true}, {"startswith(note, 'a')", B, nil},
		{"replace(city, 'e', 'E')", S, "SEattlE"}, {"replace(city, 'e')", S, "Sattl"},
		{"instr(city, 'tt')", I, int64(4)}, {"instr(city, 'z')", I, int64(0)},
		{"lpad('7', 3, '0')", S, "007"}, {"lpad('abcd', 2)", S, "ab"}, {"rpad('a', 5, 'xy')", S, "axyxy"}, {"lpad(note, 2)", S, nil},
		{"reverse('abc')", S, "cba"}, {"repeat('ab', 3)", S, "ababab"},
		{"size(city)", I, int64(7)}, {"city.size()", I, int64(7)}, {"size(tags)", I, int64(2)},
	})
}

func TestTime(t *testing.T) {
	e := newEnv(t)
	I, S, B := feature.Int64, feature.String, feature.Boolean
	runEval(t, e, sample(), []evalCase{
		{"year(datetime)", I, int64(2024)}, {"month(datetime)", I, int64(5)}, {"dayofmonth(datetime)", I, int64(4)},
		{"day(datetime)", I, int64(4)}, {"dayofweek(datetime)", I, int64(7)}, {"dayofweek('2024-05-05')", I, int64(1)},
		{"weekday(datetime)", I, int64(5)}, {"dayofyear(datetime)", I, int64(125)}, {"quarter(datetime)", I, int64(2)},
		{"weekofyear('2024-01-01')", I, int64(1)},
		{"hour(datetime)", I, int64(7)}, {"minute(datetime)", I, int64(8)}, {"second(datetime)", I, int64(9)},
		{"hour(pickup)", I, int64(6)}, {"hour('2024-05-04T10:00:00+02:00')", I, int64(8)}, {"year('garbage')", I, nil},
		{"year(dropoff)", I, nil}, {"hour(note)", I, nil},
		{"to_unix_timestamp(datetime)", I, ts.Unix()}, {"unix_timestamp('1970-01-02 00:00:00')", I, int64(86400)},
		{"to_unix_timestamp('1970-01-02')", I, int64(86400)}, {"to_unix_timestamp('02/01/1970', 'dd/MM/yyyy')", I, int64(86400)},
		{"to_unix_timestamp('bad', 'dd/MM/yyyy')", I, nil}, {"to_unix_timestamp(dropoff)", I, nil},
		{"to_unix_timestamp(pickup, note)", I, nil}, {"unix_timestamp() > 1700000000", B, true},
		{"from_unixtime(86400)", S, "1970-01-02 00:00:00"}, {"from_unixtime(86400, 'yyyy/MM/dd')", S, "1970/01/02"},
		{"from_unixtime(bonus)", S, nil}, {"from_unixtime(1.5e9)", S, "2017-07-14 02:40:00"},
		{"date_format(datetime, 'yyyy-MM-dd HH:mm:ss.SSS')", S, "2024-05-04 07:08:09.123"},
		{"date_format(datetime, 'EEE, d MMM yy h:mm a')", S, "Sat, 4 May 24 7:08 AM"},
		{"date_format(datetime, \"yyyy-MM-dd'T'HH:mm:ssXXX\")", S, "2024-05-04T07:08:09Z"},
		{"date_format(datetime, \"EEEE MMMM ''yy\")", S, "Saturday May '24"},
		{"date_format(pickup, 'HH:mm')", S, "06:00"}, {"date_format(dropoff, 'HH')", S, nil},
		{"cast_string(to_timestamp('04.05.2024', 'dd.MM.yyyy'))", S, "2024-05-04 00:00:00"},
		{"unix_seconds(datetime)", I, ts.Unix()}, {"unix_millis(datetime)", I, ts.UnixMilli()}, {"unix_micros(datetime)", I, ts.UnixMicro()},
		{"unix_seconds(timestamp_seconds(100))", I, int64(100)}, {"unix_millis(timestamp_millis(-1500))", I, int64(-1500)},
		{"unix_micros(timestamp_micros(123456789))", I, int64(123456789)}, {"unix_millis(timestamp_seconds(1.25))", I, int64(1250)},
		{"datediff('2024-05-10', datetime)", I, int64(6)}, {"datediff(datetime, '2024-05-10 23:00:00')", I, int64(-6)},
		{"current_timestamp() > datetime", B, true}, {"now() > datetime", B, true},
		{"(to_unix_timestamp(datetime) - to_unix_timestamp(pickup)) / 60", feature.Double, 68.15},
		{"(to_unix_timestamp(datetime) - to_unix_timestamp(dropoff)) / 60", feature.Double, nil},
	})
}
