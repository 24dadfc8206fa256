//! A `resource.Quantity` as go-spew prints it for the pod-template-hash:
//! its unexported internals after `ParseQuantity` (the protobuf decoder
//! parses the stored string). Small exact values keep an int64 mantissa and
//! scale, and keep the string itself when it is already canonical; other
//! values go to an arbitrary-precision decimal rounded up to nanos.
//!
//! The write path stores quantities in upstream's canonical form
//! (`k1s_api::quantity`: `0.5` becomes `500m`), so the strings parsed here
//! are the ones a real cluster's controller parses.

use std::fmt::Write;

/// `Nano`: the smallest scale kept in the int64 form.
const MIN_INT_SCALE: i32 = -9;
/// Decimal digits an int64 always holds (`maxInt64Factors`).
const INT64_DIGITS: i32 = 18;

#[derive(Debug, PartialEq)]
enum Internals {
    /// `Quantity{}`: an empty or unparsable string.
    Zero,
    Int {
        value: i64,
        scale: i32,
        cached: Option<String>,
        format: &'static str,
    },
    Dec {
        negative: bool,
        unscaled: u128,
        scale: i32,
        format: &'static str,
    },
}

struct Number<'a> {
    negative: bool,
    /// Integer digits without leading zeros ("0" if none).
    whole: &'a str,
    fraction: &'a str,
    suffix: &'a str,
}

fn split_number(s: &str) -> Number<'_> {
    let (negative, rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let rest = rest.trim_start_matches('0');
    let whole_len = rest.bytes().take_while(u8::is_ascii_digit).count();
    let whole = if whole_len == 0 {
        "0"
    } else {
        &rest[..whole_len]
    };
    let rest = &rest[whole_len..];
    let (fraction, suffix) = match rest.strip_prefix('.') {
        Some(after) => {
            let n = after.bytes().take_while(u8::is_ascii_digit).count();
            (&after[..n], &after[n..])
        }
        None => ("", rest),
    };
    Number {
        negative,
        whole,
        fraction,
        suffix,
    }
}

/// (base, exponent, format) of a suffix, as `quantitySuffixer.interpret`.
fn interpret_suffix(suffix: &str) -> Option<(u32, i32, &'static str)> {
    const DECIMAL: [(&str, i32); 10] = [
        ("", 0),
        ("n", -9),
        ("u", -6),
        ("m", -3),
        ("k", 3),
        ("M", 6),
        ("G", 9),
        ("T", 12),
        ("P", 15),
        ("E", 18),
    ];
    const BINARY: [(&str, i32); 6] = [
        ("Ki", 10),
        ("Mi", 20),
        ("Gi", 30),
        ("Ti", 40),
        ("Pi", 50),
        ("Ei", 60),
    ];
    if let Some((_, e)) = DECIMAL.iter().find(|(s, _)| *s == suffix) {
        return Some((10, *e, "DecimalSI"));
    }
    if let Some((_, e)) = BINARY.iter().find(|(s, _)| *s == suffix) {
        return Some((2, *e, "BinarySI"));
    }
    let exp = suffix.strip_prefix(['e', 'E'])?;
    exp.parse::<i32>().ok().map(|e| (10, e, "DecimalExponent"))
}

fn parse(s: &str) -> Internals {
    if s.is_empty() {
        return Internals::Zero;
    }
    if s == "0" {
        return Internals::Int {
            value: 0,
            scale: 0,
            cached: Some(s.to_string()),
            format: "DecimalSI",
        };
    }
    let n = split_number(s);
    let Some((base, exponent, format)) = interpret_suffix(n.suffix) else {
        return Internals::Zero;
    };
    let digits = (n.whole.len() + n.fraction.len()) as i32;
    let (precision, scale, mantissa) = if base == 10 {
        (INT64_DIGITS - digits, exponent, 1i64)
    } else if n.fraction.is_empty() {
        let p = 15 - n.whole.len() as i32 - (exponent as f32 * 3.0 / 10.0) as i32 - 1;
        (p, 0, 1i64 << exponent)
    } else {
        (-1, 0, 1)
    };
    let scale = scale - n.fraction.len() as i32;
    if precision >= 0 && scale >= MIN_INT_SCALE {
        let shifted = format!("{}{}", n.whole, n.fraction);
        if let Some(value) = shifted
            .parse::<i64>()
            .ok()
            .and_then(|v| v.checked_mul(mantissa).map(|r| (v, r)))
        {
            let (parsed, product) = value;
            let result = if n.negative { -product } else { product };
            let canonical = if base == 2 {
                exponent % 10 == 0 && parsed & 0x07 != 0
            } else {
                scale % 3 == 0 && !shifted.ends_with("000") && !shifted.starts_with('0')
            };
            return Internals::Int {
                value: result,
                scale,
                cached: canonical.then(|| s.to_string()),
                format,
            };
        }
    }
    decimal(&n, base, exponent, format).unwrap_or(Internals::Zero)
}

/// The `inf.Dec` path: exact decimal, rounded up to nanos.
fn decimal(n: &Number, base: u32, exponent: i32, format: &'static str) -> Option<Internals> {
    let mut unscaled: u128 = format!("{}{}", n.whole, n.fraction).parse().ok()?;
    let mut scale = n.fraction.len() as i32;
    if base == 10 {
        scale -= exponent;
    } else {
        unscaled = unscaled.checked_mul(1u128.checked_shl(exponent as u32)?)?;
    }
    let nanos = -MIN_INT_SCALE;
    if unscaled != 0 {
        if scale <= nanos {
            unscaled = unscaled.checked_mul(10u128.checked_pow((nanos - scale) as u32)?)?;
        } else {
            let div = 10u128.checked_pow((scale - nanos) as u32)?;
            unscaled = unscaled / div + u128::from(!unscaled.is_multiple_of(div));
        }
        scale = nanos;
    }
    let below_one = unscaled < 10u128.pow(scale.max(0) as u32) && unscaled > 0;
    let format = if format == "BinarySI" && below_one {
        "DecimalSI"
    } else {
        format
    };
    Some(Internals::Dec {
        negative: n.negative && unscaled != 0,
        unscaled,
        scale,
        format,
    })
}

/// Appends the Quantity struct body (its type was already printed).
pub fn render_quantity(text: &str, out: &mut String) {
    let (value, scale, dec, cached, format) = match parse(text) {
        Internals::Zero => (0, 0, None, None, ""),
        Internals::Int {
            value,
            scale,
            cached,
            format,
        } => (value, scale, None, cached, format),
        Internals::Dec {
            negative,
            unscaled,
            scale,
            format,
        } => (0, 0, Some((negative, unscaled, scale)), None, format),
    };
    let _ = write!(
        out,
        "{{i:(resource.int64Amount){{value:(int64){value} scale:(resource.Scale){scale}}} d:(resource.infDecAmount){{Dec:(*inf.Dec)"
    );
    match dec {
        None => out.push_str("<nil>"),
        Some((negative, unscaled, scale)) => {
            let _ = write!(
                out,
                "{{unscaled:(big.Int){{neg:(bool){negative} abs:(big.nat)"
            );
            // big.nat: 64-bit words, least significant first; zero is nil.
            let (low, high) = (unscaled as u64, (unscaled >> 64) as u64);
            let words: Vec<String> = match (low, high) {
                (0, 0) => vec![],
                (l, 0) => vec![l.to_string()],
                (l, h) => vec![l.to_string(), h.to_string()],
            };
            if words.is_empty() {
                out.push_str("<nil>");
            } else {
                let _ = write!(out, "[{}]", words.join(" "));
            }
            let _ = write!(out, "}} scale:(inf.Scale){scale}}}");
        }
    }
    let _ = write!(
        out,
        "}} s:(string){} Format:(resource.Format){format}}}",
        cached.as_deref().unwrap_or("")
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn int(value: i64, scale: i32, cached: Option<&str>, format: &'static str) -> Internals {
        Internals::Int {
            value,
            scale,
            cached: cached.map(str::to_string),
            format,
        }
    }

    #[test]
    fn canonical_spellings_keep_their_string() {
        assert_eq!(parse("0"), int(0, 0, Some("0"), "DecimalSI"));
        assert_eq!(parse("100m"), int(100, -3, Some("100m"), "DecimalSI"));
        assert_eq!(parse("1"), int(1, 0, Some("1"), "DecimalSI"));
        assert_eq!(parse("3Mi"), int(3 << 20, 0, Some("3Mi"), "BinarySI"));
        assert_eq!(parse("1Gi"), int(1 << 30, 0, Some("1Gi"), "BinarySI"));
    }

    #[test]
    fn other_spellings_drop_the_string() {
        // Scale not a multiple of three, trailing "000", a multiple of 8 (Mi).
        assert_eq!(parse("0.5"), int(5, -1, None, "DecimalSI"));
        assert_eq!(parse("1000"), int(1000, 0, None, "DecimalSI"));
        assert_eq!(parse("128Mi"), int(128 << 20, 0, None, "BinarySI"));
        assert_eq!(parse("2e4"), int(2, 4, None, "DecimalExponent"));
        assert_eq!(parse("-100m"), int(-100, -3, Some("-100m"), "DecimalSI"));
    }

    #[test]
    fn fractional_binary_values_become_decimals() {
        assert_eq!(
            parse("1.5Gi"),
            Internals::Dec {
                negative: false,
                unscaled: 1_610_612_736 * 1_000_000_000,
                scale: 9,
                format: "BinarySI"
            }
        );
        assert_eq!(parse(""), Internals::Zero);
        assert_eq!(parse("12x"), Internals::Zero);
    }

    #[test]
    fn renders_spew_internals() {
        let mut s = String::new();
        render_quantity("100m", &mut s);
        assert_eq!(
            s,
            "{i:(resource.int64Amount){value:(int64)100 scale:(resource.Scale)-3} \
             d:(resource.infDecAmount){Dec:(*inf.Dec)<nil>} s:(string)100m Format:(resource.Format)DecimalSI}"
        );
        let mut s = String::new();
        render_quantity("0.5Ki", &mut s);
        assert_eq!(
            s,
            "{i:(resource.int64Amount){value:(int64)0 scale:(resource.Scale)0} \
             d:(resource.infDecAmount){Dec:(*inf.Dec){unscaled:(big.Int){neg:(bool)false abs:(big.nat)[512000000000]} \
             scale:(inf.Scale)9}} s:(string) Format:(resource.Format)BinarySI}"
        );
    }
}
