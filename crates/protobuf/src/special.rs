//! Well-known Kubernetes types whose protobuf and JSON forms are custom-coded in Go.

use serde_json::Value;

use crate::table::Special;
use crate::wire::{Reader, WireType};
use crate::DecodeError;

/// Decodes one special message. `buf` is empty for an absent non-pointer field,
/// which yields the Go zero value's JSON (`null` for times, `"0"`, `0`, …).
pub fn decode(special: Special, buf: &[u8]) -> Result<Value, DecodeError> {
    match special {
        Special::Time => time(buf, false),
        Special::MicroTime => time(buf, true),
        Special::Duration => {
            let ns = read_int(buf, 1)?.unwrap_or(0);
            Ok(Value::String(go_duration(ns)))
        }
        Special::IntOrString => int_or_string(buf),
        Special::Quantity => quantity(buf),
        Special::RawExtension | Special::FieldsV1 => embedded_json(special, buf),
    }
}

/// Reads the last varint of field `number` (other fields are skipped).
fn read_int(buf: &[u8], number: u32) -> Result<Option<i64>, DecodeError> {
    let mut out = None;
    let mut r = Reader::new(buf);
    while !r.is_empty() {
        let (n, wire) = r.key()?;
        if n == number {
            expect(wire, WireType::Varint, n)?;
            out = Some(r.varint()? as i64);
        } else {
            r.skip(wire)?;
        }
    }
    Ok(out)
}

fn expect(got: WireType, want: WireType, number: u32) -> Result<(), DecodeError> {
    if got == want {
        Ok(())
    } else {
        Err(DecodeError::WrongWireType {
            message: "well-known type",
            field: number,
            wire: got.name(),
        })
    }
}

/// meta.v1.Time and MicroTime travel as a Timestamp {1 seconds, 2 nanos}; an
/// empty message is the zero time, which Go prints as `null`. Time drops the
/// nanoseconds when decoding; MicroTime truncates them to microseconds.
fn time(buf: &[u8], micro: bool) -> Result<Value, DecodeError> {
    if buf.is_empty() {
        return Ok(Value::Null);
    }
    let mut seconds = 0i64;
    let mut nanos = 0i64;
    let mut r = Reader::new(buf);
    while !r.is_empty() {
        let (n, wire) = r.key()?;
        match n {
            1 => {
                expect(wire, WireType::Varint, n)?;
                seconds = r.varint()? as i64;
            }
            2 => {
                expect(wire, WireType::Varint, n)?;
                nanos = i64::from(r.varint()? as i32);
            }
            _ => r.skip(wire)?,
        }
    }
    if !micro {
        return Ok(Value::String(rfc3339(seconds, None)?));
    }
    // Truncate toward zero like Go's Duration.Truncate, then normalise like time.Unix.
    let nanos = nanos - nanos % 1000;
    let seconds = seconds
        .checked_add(nanos.div_euclid(1_000_000_000))
        .ok_or(DecodeError::TimeOutOfRange)?;
    let micros = nanos.rem_euclid(1_000_000_000) / 1000;
    Ok(Value::String(rfc3339(seconds, Some(micros))?))
}

/// `2006-01-02T15:04:05Z`, or with `.000000` when `micros` is given.
pub fn rfc3339(seconds: i64, micros: Option<i64>) -> Result<String, DecodeError> {
    let days = seconds.div_euclid(86_400);
    let secs = seconds.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    if !(0..=9999).contains(&year) {
        return Err(DecodeError::TimeOutOfRange);
    }
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    Ok(match micros {
        None => format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}Z"),
        Some(us) => format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}.{us:06}Z"),
    })
}

/// Days since 1970-01-01 to a proleptic Gregorian (year, month, day).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    // Shift the epoch to 0000-03-01 so leap days fall at the end of a year.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Go's `time.Duration.String()`: `1h2m3.5s`, `1.5ms`, `0s`.
pub fn go_duration(ns: i64) -> String {
    let sign = if ns < 0 { "-" } else { "" };
    let u = ns.unsigned_abs();
    if u == 0 {
        return "0s".to_string();
    }
    if u < 1_000_000_000 {
        let (prec, unit) = match u {
            0..1_000 => (0, "ns"),
            1_000..1_000_000 => (3, "µs"),
            _ => (6, "ms"),
        };
        let scale = 10u64.pow(prec);
        return format!("{sign}{}{}{unit}", u / scale, fraction(u % scale, prec));
    }
    let frac = fraction(u % 1_000_000_000, 9);
    let secs = u / 1_000_000_000;
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    if h > 0 {
        format!("{sign}{h}h{m}m{s}{frac}s")
    } else if m > 0 {
        format!("{sign}{m}m{s}{frac}s")
    } else {
        format!("{sign}{s}{frac}s")
    }
}

/// `.5` for 500 of 3 digits; empty when zero.
fn fraction(v: u64, digits: u32) -> String {
    if v == 0 {
        return String::new();
    }
    let s = format!(".{v:0width$}", width = digits as usize);
    s.trim_end_matches('0').to_string()
}

/// intstr.IntOrString {1 type, 2 intVal, 3 strVal}.
fn int_or_string(buf: &[u8]) -> Result<Value, DecodeError> {
    let (mut ty, mut int_val, mut str_val) = (0i64, 0i32, String::new());
    let mut r = Reader::new(buf);
    while !r.is_empty() {
        let (n, wire) = r.key()?;
        match n {
            1 => {
                expect(wire, WireType::Varint, n)?;
                ty = r.varint()? as i64;
            }
            2 => {
                expect(wire, WireType::Varint, n)?;
                int_val = r.varint()? as i32;
            }
            3 => {
                expect(wire, WireType::Len, n)?;
                str_val = String::from_utf8_lossy(r.bytes()?).into_owned();
            }
            _ => r.skip(wire)?,
        }
    }
    match ty {
        0 => Ok(Value::from(int_val)),
        1 => Ok(Value::String(str_val)),
        other => Err(DecodeError::InvalidIntOrString(other)),
    }
}

/// resource.Quantity {1 string}. The zero Quantity prints as "0"; an empty
/// string is rejected like Go's ParseQuantity does.
fn quantity(buf: &[u8]) -> Result<Value, DecodeError> {
    let mut out = None;
    let mut r = Reader::new(buf);
    while !r.is_empty() {
        let (n, wire) = r.key()?;
        if n == 1 {
            expect(wire, WireType::Len, n)?;
            let s = String::from_utf8_lossy(r.bytes()?).trim().to_string();
            if s.is_empty() {
                return Err(DecodeError::InvalidQuantity);
            }
            out = Some(s);
        } else {
            r.skip(wire)?;
        }
    }
    Ok(Value::String(out.unwrap_or_else(|| "0".to_string())))
}

/// runtime.RawExtension {1 raw} and meta.v1.FieldsV1 {1 Raw} carry JSON
/// that Go prints verbatim; nil prints as `null`.
fn embedded_json(special: Special, buf: &[u8]) -> Result<Value, DecodeError> {
    let mut raw: Option<&[u8]> = None;
    let mut r = Reader::new(buf);
    while !r.is_empty() {
        let (n, wire) = r.key()?;
        if n == 1 {
            expect(wire, WireType::Len, n)?;
            raw = Some(r.bytes()?);
        } else {
            r.skip(wire)?;
        }
    }
    match raw {
        None | Some([]) => Ok(Value::Null),
        Some(raw) => serde_json::from_slice(raw).map_err(|e| DecodeError::EmbeddedJson {
            kind: match special {
                Special::FieldsV1 => "FieldsV1",
                _ => "RawExtension",
            },
            error: e.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_formats() {
        let cases: &[(i64, Option<i64>, &str)] = &[
            (0, None, "1970-01-01T00:00:00Z"),
            (1_795_413_498, None, "2026-11-23T05:58:18Z"),
            (951_782_400, None, "2000-02-29T00:00:00Z"),
            (-1, None, "1969-12-31T23:59:59Z"),
            (253_402_300_799, None, "9999-12-31T23:59:59Z"),
            (-62_167_219_200, None, "0000-01-01T00:00:00Z"),
            (1_700_000_000, Some(123_456), "2023-11-14T22:13:20.123456Z"),
            (1_700_000_000, Some(0), "2023-11-14T22:13:20.000000Z"),
        ];
        for (secs, micros, want) in cases {
            assert_eq!(rfc3339(*secs, *micros).as_deref(), Ok(*want), "{secs}");
        }
        assert_eq!(
            rfc3339(253_402_300_800, None),
            Err(DecodeError::TimeOutOfRange)
        );
        assert_eq!(
            rfc3339(-62_167_219_201, None),
            Err(DecodeError::TimeOutOfRange)
        );
    }

    #[test]
    fn go_durations() {
        let cases: &[(i64, &str)] = &[
            (0, "0s"),
            (1, "1ns"),
            (999, "999ns"),
            (1_100, "1.1µs"),
            (2_200_000, "2.2ms"),
            (1_000_000_000, "1s"),
            (1_500_000_000, "1.5s"),
            (60_000_000_000, "1m0s"),
            (3_600_000_000_000, "1h0m0s"),
            (3_723_000_000_001, "1h2m3.000000001s"),
            (-90_000_000_000, "-1m30s"),
            (i64::MIN, "-2562047h47m16.854775808s"),
            (i64::MAX, "2562047h47m16.854775807s"),
        ];
        for (ns, want) in cases {
            assert_eq!(go_duration(*ns), *want, "{ns}");
        }
    }

    fn timestamp(seconds: i64, nanos: i32) -> Vec<u8> {
        let mut out = vec![0x08];
        push_varint(&mut out, seconds as u64);
        out.push(0x10);
        push_varint(&mut out, nanos as i64 as u64);
        out
    }

    fn push_varint(out: &mut Vec<u8>, mut v: u64) {
        while v >= 0x80 {
            out.push((v as u8) | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }

    #[test]
    fn times() {
        let ts = timestamp(1_795_413_498, 987_654_321);
        assert_eq!(decode(Special::Time, &[]), Ok(Value::Null));
        assert_eq!(decode(Special::MicroTime, &[]), Ok(Value::Null));
        assert_eq!(
            decode(Special::Time, &ts),
            Ok(Value::from("2026-11-23T05:58:18Z"))
        );
        assert_eq!(
            decode(Special::MicroTime, &ts),
            Ok(Value::from("2026-11-23T05:58:18.987654Z"))
        );
        // Present but all-zero is the Unix epoch, not the zero time.
        assert_eq!(
            decode(Special::Time, &timestamp(0, 0)),
            Ok(Value::from("1970-01-01T00:00:00Z"))
        );
        // Negative nanos borrow from the seconds like time.Unix.
        assert_eq!(
            decode(Special::MicroTime, &timestamp(10, -1_500)),
            Ok(Value::from("1970-01-01T00:00:09.999999Z"))
        );
        assert_eq!(
            decode(Special::Time, &[0x0a, 0x00]),
            Err(DecodeError::WrongWireType {
                message: "well-known type",
                field: 1,
                wire: "length-delimited"
            })
        );
        assert_eq!(decode(Special::Time, &[0x08]), Err(DecodeError::Truncated));
    }

    #[test]
    fn int_or_string_values() {
        assert_eq!(decode(Special::IntOrString, &[]), Ok(Value::from(0)));
        assert_eq!(
            decode(Special::IntOrString, &[0x08, 0x00, 0x10, 0x50]),
            Ok(Value::from(80))
        );
        assert_eq!(
            decode(
                Special::IntOrString,
                &[0x08, 0x01, 0x1a, 0x04, b'h', b't', b't', b'p']
            ),
            Ok(Value::from("http"))
        );
        assert_eq!(
            decode(Special::IntOrString, &[0x10, 0xff, 0xff, 0xff, 0xff, 0x0f]),
            Ok(Value::from(-1))
        );
        assert_eq!(
            decode(Special::IntOrString, &[0x08, 0x02]),
            Err(DecodeError::InvalidIntOrString(2))
        );
    }

    #[test]
    fn quantities() {
        assert_eq!(decode(Special::Quantity, &[]), Ok(Value::from("0")));
        assert_eq!(
            decode(Special::Quantity, &[0x0a, 0x04, b'1', b'0', b'0', b'm']),
            Ok(Value::from("100m"))
        );
        assert_eq!(
            decode(Special::Quantity, &[0x0a, 0x00]),
            Err(DecodeError::InvalidQuantity)
        );
    }

    #[test]
    fn durations() {
        assert_eq!(decode(Special::Duration, &[]), Ok(Value::from("0s")));
        let mut two_hours = vec![0x08];
        push_varint(&mut two_hours, 7_200_000_000_000);
        assert_eq!(
            decode(Special::Duration, &two_hours),
            Ok(Value::from("2h0m0s"))
        );
    }

    #[test]
    fn embedded_json_values() {
        assert_eq!(decode(Special::RawExtension, &[]), Ok(Value::Null));
        assert_eq!(decode(Special::FieldsV1, &[0x0a, 0x00]), Ok(Value::Null));
        assert_eq!(
            decode(
                Special::FieldsV1,
                &[0x0a, 0x07, b'{', b'"', b'f', b'"', b':', b'1', b'}']
            ),
            Ok(serde_json::json!({"f": 1}))
        );
        assert!(matches!(
            decode(Special::RawExtension, &[0x0a, 0x01, b'{']),
            Err(DecodeError::EmbeddedJson {
                kind: "RawExtension",
                ..
            })
        ));
    }
}
