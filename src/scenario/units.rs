//! Typed durations (`5m`) and percentages (`8%`) as scenario files write them.
//!
//! Both parse from strings only: a bare number is ambiguous (seconds or
//! minutes? 8 or 0.08?) and is rejected with a hint that shows the spelling
//! we want. Durations are kept in whole milliseconds, the resolution of the
//! simulated clock.

use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A span of (simulated or wall) time in milliseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Dur(pub u64);

impl Dur {
    pub const ZERO: Dur = Dur(0);

    pub fn from_secs(s: u64) -> Dur {
        Dur(s * 1000)
    }

    pub fn from_mins(m: u64) -> Dur {
        Dur(m * 60_000)
    }

    pub fn millis(self) -> u64 {
        self.0
    }

    pub fn secs_f64(self) -> f64 {
        self.0 as f64 / 1000.0
    }

    /// Parses `500ms`, `30s`, `5m`, `2h`, `1d`, `1.5h` and sums like `1h30m`.
    pub fn parse(text: &str) -> Result<Dur, String> {
        let s = text.trim();
        let hint = "write a number followed by ms, s, m, h or d, e.g. `30s`, `5m` or `1h30m`";
        if s.is_empty() {
            return Err(format!("empty duration: {hint}"));
        }
        let mut total = 0f64;
        let mut rest = s;
        while !rest.is_empty() {
            let num_len = rest
                .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                .unwrap_or(rest.len());
            if num_len == 0 || !is_decimal(&rest[..num_len]) {
                return Err(format!("invalid duration `{text}`: {hint}"));
            }
            let number: f64 = rest[..num_len]
                .parse()
                .map_err(|_| format!("invalid duration `{text}`: {hint}"))?;
            rest = &rest[num_len..];
            let unit_len = rest
                .find(|c: char| !c.is_ascii_alphabetic())
                .unwrap_or(rest.len());
            let unit = &rest[..unit_len];
            rest = &rest[unit_len..];
            let scale = match unit {
                "ms" => 1.0,
                "s" => 1_000.0,
                "m" => 60_000.0,
                "h" => 3_600_000.0,
                "d" => 86_400_000.0,
                "" if !rest.is_empty() => {
                    return Err(format!("invalid duration `{text}`: {hint}"));
                }
                "" => {
                    return Err(format!(
                        "duration `{text}` has no unit: {hint} (a bare number could mean seconds or minutes)"
                    ));
                }
                _ => return Err(format!("invalid duration `{text}`: {hint}")),
            };
            total += number * scale;
        }
        if !total.is_finite() || total > 1e15 {
            return Err(format!("duration `{text}` is too long"));
        }
        Ok(Dur(total.round() as u64))
    }
}

impl fmt::Display for Dur {
    /// The shortest exact spelling: `45m`, `12m30s`, `1.5s`, `250ms`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0;
        if ms == 0 {
            return f.write_str("0s");
        }
        if ms < 1000 {
            return write!(f, "{ms}ms");
        }
        let (d, rem) = (ms / 86_400_000, ms % 86_400_000);
        let (h, rem) = (rem / 3_600_000, rem % 3_600_000);
        let (m, rem) = (rem / 60_000, rem % 60_000);
        let (s, milli) = (rem / 1000, rem % 1000);
        for (value, unit) in [(d, "d"), (h, "h"), (m, "m")] {
            if value > 0 {
                write!(f, "{value}{unit}")?;
            }
        }
        match (s, milli) {
            (0, 0) => Ok(()),
            (s, 0) => write!(f, "{s}s"),
            (s, milli) => {
                let frac = format!("{milli:03}");
                write!(f, "{s}.{}s", frac.trim_end_matches('0'))
            }
        }
    }
}

impl Serialize for Dur {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(UnitVisitor::<Dur>::new())
    }
}

impl JsonSchema for Dur {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Duration".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "pattern": "^([0-9]+(\\.[0-9]+)?(ms|s|m|h|d))+$",
            "description": "A duration such as `500ms`, `30s`, `5m`, `2h`, `1d` or `1h30m`.",
            "examples": ["30s", "5m", "2h"]
        })
    }
}

/// A percentage, stored as a fraction (`8%` is 0.08).
#[derive(Clone, Copy, Debug, Default, PartialEq, PartialOrd)]
pub struct Percent(pub f64);

impl Percent {
    pub fn fraction(self) -> f64 {
        self.0
    }

    pub fn parse(text: &str) -> Result<Percent, String> {
        let p = Percent::parse_unbounded(text)?;
        if p.0 > 1.0 {
            return Err(format!("percentage `{text}` is outside 0% to 100%"));
        }
        Ok(p)
    }

    /// A percentage that may exceed 100%, as a relative change can.
    pub fn parse_unbounded(text: &str) -> Result<Percent, String> {
        let s = text.trim();
        let Some(number) = s.strip_suffix('%') else {
            return Err(format!(
                "percentage `{text}` has no `%`: write it like `8%` or `0.5%` (a bare number could mean 8% or 0.08%)"
            ));
        };
        let bad = || {
            format!(
                "invalid percentage `{text}`: write digits with an optional decimal part and `%`, like `8%` or `0.5%`"
            )
        };
        if number.strip_prefix('-').is_some_and(is_decimal) {
            return Err(format!("percentage `{text}` is negative"));
        }
        if !is_decimal(number) {
            return Err(bad());
        }
        let value: f64 = number.parse().map_err(|_| bad())?;
        if !value.is_finite() || value < 0.0 {
            return Err(format!("percentage `{text}` is negative"));
        }
        Ok(Percent(value / 100.0))
    }
}

impl fmt::Display for Percent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pct = self.0 * 100.0;
        let rounded = (pct * 1000.0).round() / 1000.0;
        write!(f, "{rounded}%")
    }
}

impl Serialize for Percent {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Percent {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(UnitVisitor::<Percent>::new())
    }
}

impl JsonSchema for Percent {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Percentage".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "pattern": "^[0-9]+(\\.[0-9]+)?%$",
            "description": "A percentage such as `8%` or `0.5%`.",
            "examples": ["5%", "0.5%"]
        })
    }
}

/// A threshold on a relative change, which may exceed 100% (`latency_p99_increase
/// above: 150%`). Parsed like [`Percent`] without the upper bound.
#[derive(Clone, Copy, Debug, Default, PartialEq, PartialOrd)]
pub struct Ratio(pub Percent);

impl<'de> Deserialize<'de> for Ratio {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(UnitVisitor::<Ratio>::new())
    }
}

impl JsonSchema for Ratio {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Threshold".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "pattern": "^[0-9]+(\\.[0-9]+)?%$",
            "description": "A percentage threshold such as `5%`; relative changes may exceed 100%.",
            "examples": ["5%", "100%"]
        })
    }
}

impl ParseUnit for Ratio {
    const EXPECTING: &'static str = "a percentage such as `5%` or `150%`";
    fn parse_unit(text: &str) -> Result<Self, String> {
        Percent::parse_unbounded(text).map(Ratio)
    }
}

trait ParseUnit: Sized {
    const EXPECTING: &'static str;
    fn parse_unit(text: &str) -> Result<Self, String>;
}

impl ParseUnit for Dur {
    const EXPECTING: &'static str = "a duration such as `30s` or `5m`";
    fn parse_unit(text: &str) -> Result<Self, String> {
        Dur::parse(text)
    }
}

impl ParseUnit for Percent {
    const EXPECTING: &'static str = "a percentage such as `8%`";
    fn parse_unit(text: &str) -> Result<Self, String> {
        Percent::parse(text)
    }
}

struct UnitVisitor<T>(std::marker::PhantomData<T>);

impl<T> UnitVisitor<T> {
    fn new() -> Self {
        UnitVisitor(std::marker::PhantomData)
    }
}

impl<T: ParseUnit> Visitor<'_> for UnitVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(T::EXPECTING)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
        T::parse_unit(v).map_err(E::custom)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<T, E> {
        T::parse_unit(&v.to_string()).map_err(E::custom)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<T, E> {
        T::parse_unit(&v.to_string()).map_err(E::custom)
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<T, E> {
        T::parse_unit(&v.to_string()).map_err(E::custom)
    }
}

/// Digits with an optional decimal part (`5`, `0.5`), as the JSON Schema's
/// patterns have it: not `.5`, `5.`, `1e1` or ` 5`.
fn is_decimal(s: &str) -> bool {
    let (whole, frac) = s.split_once('.').unwrap_or((s, "0"));
    !whole.is_empty()
        && !frac.is_empty()
        && whole.bytes().all(|b| b.is_ascii_digit())
        && frac.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_in_every_unit() {
        let table = [
            ("500ms", 500),
            ("30s", 30_000),
            ("5m", 300_000),
            ("2h", 7_200_000),
            ("1d", 86_400_000),
            ("1.5h", 5_400_000),
            ("1h30m", 5_400_000),
            ("0s", 0),
        ];
        for (text, ms) in table {
            assert_eq!(Dur::parse(text), Ok(Dur(ms)), "{text}");
        }
    }

    #[test]
    fn numbers_are_digits_with_an_optional_decimal_part_as_the_schema_says() {
        for text in [".5%", "5.%", "5 %", "1e1%", "+5%", "0x5%", "5..0%"] {
            assert!(Percent::parse(text).is_err(), "{text}");
        }
        for text in [".5s", "5.s", "1e1s", "5 s"] {
            assert!(Dur::parse(text).is_err(), "{text}");
        }
        assert_eq!(Percent::parse("0.5%"), Ok(Percent(0.005)));
        assert_eq!(Percent::parse("007%"), Ok(Percent(0.07)));
    }

    #[test]
    fn durations_reject_prose_and_bare_numbers() {
        for text in ["5 minutes", "5", "m", "", "5x", "-5m"] {
            let err = Dur::parse(text).unwrap_err();
            assert!(err.contains("duration"), "{text}: unexpected message {err}");
        }
        assert!(Dur::parse("5").unwrap_err().contains("no unit"));
        assert!(
            Dur::parse("5 minutes")
                .unwrap_err()
                .starts_with("invalid duration `5 minutes`")
        );
    }

    #[test]
    fn durations_display_shortest_exact_form() {
        let table = [
            (0, "0s"),
            (250, "250ms"),
            (1_500, "1.5s"),
            (750_000, "12m30s"),
            (2_700_000, "45m"),
            (5_402_000, "1h30m2s"),
        ];
        for (ms, text) in table {
            assert_eq!(Dur(ms).to_string(), text);
            assert_eq!(Dur::parse(text), Ok(Dur(ms)), "round trip of {text}");
        }
    }

    #[test]
    fn percentages_need_a_percent_sign_and_a_range() {
        assert_eq!(Percent::parse("8%"), Ok(Percent(0.08)));
        assert_eq!(Percent::parse("0.5%").unwrap().to_string(), "0.5%");
        assert!(Percent::parse("8").unwrap_err().contains("no `%`"));
        assert!(Percent::parse("150%").unwrap_err().contains("outside"));
        assert_eq!(Percent::parse_unbounded("150%"), Ok(Percent(1.5)));
        assert!(Percent::parse_unbounded("-5%").is_err());
        assert!(Percent::parse("lots%").unwrap_err().contains("invalid"));
    }
}
