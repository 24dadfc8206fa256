//! `resource.Quantity` as kube-apiserver v1.32 decodes and re-encodes it
//! (k8s.io/apimachinery v0.32 `pkg/api/resource`: `ParseQuantity`,
//! `UnmarshalJSON`, `String`/`CanonicalizeBytes`). Every quantity field of
//! an object is stored in this form, so `0.5` becomes `500m` and `1.5Gi`
//! becomes `1536Mi`.
//!
//! Two upstream quirks are kept on purpose, since clients see them:
//! a spelling the int64 fast path deems canonical is kept verbatim (`+1`,
//! `1e3`, `1.500`), and a DecimalSI exponent above 10^18 loses its suffix
//! (`1000E` becomes `1`; fixed upstream only after v1.32).

mod decimal;
pub mod fields;
#[cfg(test)]
mod tests;

use decimal::Decimal;
use serde_json::Value;
use std::cmp::Ordering;

/// Why a quantity did not parse, with upstream's messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum QuantityError {
    #[error("quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'")]
    FormatWrong,
    #[error("unable to parse numeric part of quantity")]
    Numeric,
    #[error("unable to parse quantity's suffix")]
    Suffix,
}

/// How a quantity is written back: the kind of suffix it was parsed with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    DecimalSI,
    BinarySI,
    DecimalExponent,
}

/// A parsed quantity: its exact value (down to nano), format and, when the
/// input was already canonical, the input itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quantity {
    negative: bool,
    magnitude: Decimal,
    pub format: Format,
    cached: Option<String>,
}

/// The smallest unit a quantity keeps (`resource.Nano`).
const NANO_EXP: i64 = -9;
/// Decimal digits an int64 always holds (`maxInt64Factors`).
const INT64_DIGITS: i64 = 18;
const SUFFIX_CHARS: &[u8] = b"eEinumkKMGTP";

/// The pieces `parseQuantityString` splits a quantity into.
struct Scanned<'a> {
    positive: bool,
    /// Whether any digit precedes the suffix ("." alone has none).
    has_digits: bool,
    /// Integer digits without leading zeros ("0" when none).
    num: &'a str,
    denom: &'a str,
    suffix: &'a str,
}

fn scan(s: &str) -> Result<Scanned<'_>, QuantityError> {
    let b = s.as_bytes();
    let mut pos = 0;
    let mut positive = true;
    match b.first() {
        Some(b'-') => {
            positive = false;
            pos = 1;
        }
        Some(b'+') => pos = 1,
        _ => {}
    }
    while pos < b.len() && b[pos] == b'0' {
        pos += 1;
    }
    let digits_from = |p: usize| p + b[p..].iter().take_while(|c| c.is_ascii_digit()).count();
    let num_end = digits_from(pos);
    let num = if num_end == pos {
        "0"
    } else {
        &s[pos..num_end]
    };
    pos = num_end;
    let mut denom = "";
    if pos < b.len() && b[pos] == b'.' {
        let end = digits_from(pos + 1);
        denom = &s[pos + 1..end];
        pos = end;
    }
    let suffix_start = pos;
    let has_digits = s[..pos].bytes().any(|c| c.is_ascii_digit());
    while pos < b.len() && SUFFIX_CHARS.contains(&b[pos]) {
        pos += 1;
    }
    if pos < b.len() && matches!(b[pos], b'+' | b'-') {
        pos += 1;
    }
    if digits_from(pos) != b.len() {
        return Err(QuantityError::FormatWrong);
    }
    Ok(Scanned {
        positive,
        has_digits,
        num,
        denom,
        suffix: &s[suffix_start..],
    })
}

/// (base, exponent, format) of a suffix (`quantitySuffixer.interpret`).
fn interpret_suffix(suffix: &str) -> Option<(u32, i32, Format)> {
    let decimal = match suffix {
        "n" => Some(-9),
        "u" => Some(-6),
        "m" => Some(-3),
        "" => Some(0),
        "k" => Some(3),
        "M" => Some(6),
        "G" => Some(9),
        "T" => Some(12),
        "P" => Some(15),
        "E" => Some(18),
        _ => None,
    };
    if let Some(e) = decimal {
        return Some((10, e, Format::DecimalSI));
    }
    let binary = match suffix {
        "Ki" => Some(10),
        "Mi" => Some(20),
        "Gi" => Some(30),
        "Ti" => Some(40),
        "Pi" => Some(50),
        "Ei" => Some(60),
        _ => None,
    };
    if let Some(e) = binary {
        return Some((2, e, Format::BinarySI));
    }
    let exp = suffix.strip_prefix(['e', 'E']).filter(|e| !e.is_empty())?;
    // Go parses an int64 and keeps its low 32 bits.
    let parsed: i64 = exp.parse().ok()?;
    Some((10, parsed as i32, Format::DecimalExponent))
}

/// Whether upstream's int64 fast path takes the input (`Some`), and then
/// whether it keeps the input string as the canonical form; `None` means
/// the arbitrary-precision (`inf.Dec`) path.
fn fast_path(n: &Scanned, exponent: i32, format: Format) -> Option<bool> {
    if format == Format::BinarySI {
        if !n.denom.is_empty() {
            return None;
        }
        let precision = 15 - n.num.len() as i64 - i64::from(exponent) * 3 / 10 - 1;
        let value = n.num.parse::<i64>().ok().filter(|_| precision >= 0)?;
        value.checked_mul(1i64 << exponent)?;
        return Some(exponent % 10 == 0 && value & 0x07 != 0);
    }
    let digits = (n.num.len() + n.denom.len()) as i64;
    let scale = exponent.wrapping_sub(n.denom.len() as i32);
    if INT64_DIGITS - digits < 0 || i64::from(scale) < NANO_EXP {
        return None;
    }
    let shifted = format!("{}{}", n.num, n.denom);
    Some(scale % 3 == 0 && !shifted.ends_with("000") && !shifted.starts_with('0'))
}

impl Quantity {
    /// `resource.ParseQuantity`.
    pub fn parse(s: &str) -> Result<Quantity, QuantityError> {
        if s.is_empty() {
            return Err(QuantityError::FormatWrong);
        }
        if s == "0" {
            return Ok(Quantity {
                negative: false,
                magnitude: Decimal::from_digits("", 0),
                format: Format::DecimalSI,
                cached: Some(s.to_string()),
            });
        }
        let n = scan(s)?;
        let (base, exponent, mut format) =
            interpret_suffix(n.suffix).ok_or(QuantityError::Suffix)?;
        let fast = fast_path(&n, exponent, format);
        // The inf.Dec path parses the number text itself, which needs a digit.
        if fast.is_none() && !n.has_digits {
            return Err(QuantityError::Numeric);
        }
        let cached = (fast == Some(true)).then(|| s.to_string());
        let digits = format!("{}{}", n.num, n.denom);
        let frac = n.denom.len() as i64;
        let mut magnitude = if base == 10 {
            Decimal::from_digits(&digits, i64::from(exponent) - frac)
        } else {
            let mut d = Decimal::from_digits(&digits, -frac);
            d.mul_pow2(exponent as u32);
            d
        };
        // Values finer than nano round up: asking for some gives some.
        magnitude.round_up_to(NANO_EXP);
        if format == Format::BinarySI {
            let max = Decimal::from_u64(i64::MAX as u64);
            if magnitude.cmp_value(&max) == Ordering::Greater {
                magnitude = max;
            }
            let one = Decimal::from_u64(1);
            if !magnitude.is_zero() && magnitude.cmp_value(&one) == Ordering::Less {
                format = Format::DecimalSI;
            }
        }
        Ok(Quantity {
            negative: !n.positive && !magnitude.is_zero(),
            magnitude,
            format,
            cached,
        })
    }

    /// `Quantity.String()`: the kept input, or the canonical form.
    pub fn to_canonical_string(&self) -> String {
        if let Some(s) = &self.cached {
            return s.clone();
        }
        if self.magnitude.is_zero() {
            return "0".into();
        }
        let sign = if self.negative { "-" } else { "" };
        if self.format == Format::BinarySI {
            if let Some(text) = self.base1024() {
                return format!("{sign}{text}");
            }
        }
        let (digits, exp) = self.magnitude.canonical_base10();
        let suffix = match self.format {
            Format::DecimalExponent if exp == 0 => String::new(),
            Format::DecimalExponent => format!("e{exp}"),
            _ => decimal_si_suffix(exp).to_string(),
        };
        format!("{sign}{digits}{suffix}")
    }

    /// The BinarySI form, when it is exact and at least 1024 in magnitude.
    fn base1024(&self) -> Option<String> {
        if self.magnitude.cmp_value(&Decimal::from_u64(1024)) == Ordering::Less {
            return None;
        }
        let mut n = self.magnitude.to_u64()?;
        let mut power = 0;
        while n >= 1024 && n % 1024 == 0 {
            n /= 1024;
            power += 1;
        }
        let suffix = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"]
            .get(power)
            .copied()
            .unwrap_or("");
        Some(format!("{n}{suffix}"))
    }

    /// The value in nano-units, when it fits an i128.
    pub fn nanos(&self) -> Option<i128> {
        let n = self.magnitude.to_i128_units(NANO_EXP)?;
        Some(if self.negative { -n } else { n })
    }
}

/// The DecimalSI suffix of a base-10 exponent; v1.32 emits none for an
/// exponent it has no suffix for.
fn decimal_si_suffix(exp: i64) -> &'static str {
    match exp {
        -9 => "n",
        -6 => "u",
        -3 => "m",
        3 => "k",
        6 => "M",
        9 => "G",
        12 => "T",
        15 => "P",
        18 => "E",
        _ => "",
    }
}

/// `ParseQuantity(s).String()`.
pub fn canonicalize(s: &str) -> Result<String, QuantityError> {
    Quantity::parse(s).map(|q| q.to_canonical_string())
}

/// A quantity as `Quantity.UnmarshalJSON` reads a JSON value (quoted or a
/// bare number, surrounding whitespace ignored), re-encoded canonically.
/// `null` is the zero quantity, `"0"`.
pub fn canonicalize_json(v: &Value) -> Result<String, QuantityError> {
    match v {
        Value::Null => Ok("0".into()),
        Value::String(s) => canonicalize(s.trim()),
        Value::Number(n) => canonicalize(&n.to_string()),
        // Go hands the raw `true`/`{...}`/`[...]` to the parser, which
        // rejects its first character.
        Value::Bool(_) | Value::Array(_) | Value::Object(_) => Err(QuantityError::FormatWrong),
    }
}
