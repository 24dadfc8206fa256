//! An exact, unbounded non-negative decimal (`digits × 10^exp`): the little
//! arithmetic `resource.Quantity` needs beyond int64 (its `inf.Dec` path).

use std::cmp::Ordering;

/// `digits × 10^exp`, digits most significant first, without leading zeros
/// (empty means zero).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Decimal {
    digits: Vec<u8>,
    exp: i64,
}

impl Decimal {
    /// From ASCII decimal digits (leading zeros allowed) and an exponent.
    pub fn from_digits(ascii: &str, exp: i64) -> Decimal {
        let digits: Vec<u8> = ascii
            .bytes()
            .skip_while(|b| *b == b'0')
            .map(|b| b - b'0')
            .collect();
        Decimal { digits, exp }
    }

    pub fn from_u64(n: u64) -> Decimal {
        Decimal::from_digits(&n.to_string(), 0)
    }

    pub fn is_zero(&self) -> bool {
        self.digits.is_empty()
    }

    /// Multiplies by `m` (at most 2^32).
    pub fn mul_small(&mut self, m: u64) {
        let mut carry: u64 = 0;
        for d in self.digits.iter_mut().rev() {
            let v = u64::from(*d) * m + carry;
            *d = (v % 10) as u8;
            carry = v / 10;
        }
        let mut head = Vec::new();
        while carry > 0 {
            head.push((carry % 10) as u8);
            carry /= 10;
        }
        head.reverse();
        head.extend_from_slice(&self.digits);
        self.digits = head;
        self.strip_leading_zeros();
    }

    /// Multiplies by 2^bits.
    pub fn mul_pow2(&mut self, mut bits: u32) {
        while bits > 0 {
            let step = bits.min(30);
            self.mul_small(1 << step);
            bits -= step;
        }
    }

    /// Rounds away from zero to at most `-min_exp` fractional digits
    /// (`inf.RoundUp`): a dropped non-zero digit adds one unit.
    pub fn round_up_to(&mut self, min_exp: i64) {
        if self.is_zero() || self.exp >= min_exp {
            return;
        }
        let drop = min_exp - self.exp;
        let keep = i64::try_from(self.digits.len()).unwrap_or(i64::MAX) - drop;
        let dropped_nonzero = if keep <= 0 {
            !self.is_zero()
        } else {
            let keep = keep as usize;
            let any = self.digits[keep..].iter().any(|d| *d != 0);
            self.digits.truncate(keep);
            any
        };
        if keep <= 0 {
            self.digits.clear();
        }
        self.exp = min_exp;
        if dropped_nonzero {
            self.add_one_unit();
        }
        self.strip_leading_zeros();
    }

    fn add_one_unit(&mut self) {
        for d in self.digits.iter_mut().rev() {
            if *d == 9 {
                *d = 0;
            } else {
                *d += 1;
                return;
            }
        }
        self.digits.insert(0, 1);
    }

    fn strip_leading_zeros(&mut self) {
        let n = self.digits.iter().take_while(|d| **d == 0).count();
        self.digits.drain(..n);
    }

    /// Moves trailing zero digits into the exponent (value unchanged).
    pub fn strip_trailing_zeros(&mut self) {
        while self.digits.last() == Some(&0) {
            self.digits.pop();
            self.exp += 1;
        }
    }

    /// Digits and exponent with the exponent lowered to a multiple of
    /// three and no trailing zeros otherwise (`AsCanonicalBytes`).
    pub fn canonical_base10(&self) -> (String, i64) {
        let mut d = self.clone();
        d.strip_trailing_zeros();
        if d.is_zero() {
            return ("0".into(), 0);
        }
        while d.exp.rem_euclid(3) != 0 {
            d.digits.push(0);
            d.exp -= 1;
        }
        let text = d.digits.iter().map(|x| char::from(b'0' + x)).collect();
        (text, d.exp)
    }

    /// The value as an integer, if it is one and fits.
    pub fn to_u64(&self) -> Option<u64> {
        let mut d = self.clone();
        d.strip_trailing_zeros();
        if d.exp < 0 {
            return None;
        }
        let mut n: u64 = 0;
        for x in &d.digits {
            n = n.checked_mul(10)?.checked_add(u64::from(*x))?;
        }
        for _ in 0..d.exp {
            n = n.checked_mul(10)?;
        }
        Some(n)
    }

    /// The value in units of 10^`unit_exp`, if that is exact and fits.
    pub fn to_i128_units(&self, unit_exp: i64) -> Option<i128> {
        let mut d = self.clone();
        d.strip_trailing_zeros();
        if d.is_zero() {
            return Some(0);
        }
        let shift = d.exp.checked_sub(unit_exp)?;
        if shift < 0 {
            return None;
        }
        let mut n: i128 = 0;
        for x in &d.digits {
            n = n.checked_mul(10)?.checked_add(i128::from(*x))?;
        }
        for _ in 0..shift {
            n = n.checked_mul(10)?;
        }
        Some(n)
    }

    /// Compares magnitudes.
    pub fn cmp_value(&self, other: &Decimal) -> Ordering {
        let (mut a, mut b) = (self.clone(), other.clone());
        a.strip_trailing_zeros();
        b.strip_trailing_zeros();
        match (a.is_zero(), b.is_zero()) {
            (true, true) => return Ordering::Equal,
            (true, false) => return Ordering::Less,
            (false, true) => return Ordering::Greater,
            _ => {}
        }
        // Position of the leading digit decides first.
        let lead = |d: &Decimal| d.digits.len() as i128 + i128::from(d.exp);
        lead(&a).cmp(&lead(&b)).then_with(|| {
            let n = a.digits.len().max(b.digits.len());
            let at = |d: &Decimal, i: usize| d.digits.get(i).copied().unwrap_or(0);
            (0..n)
                .map(|i| at(&a, i).cmp(&at(&b, i)))
                .find(|o| *o != Ordering::Equal)
                .unwrap_or(Ordering::Equal)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multiplies_and_rounds() {
        let mut d = Decimal::from_digits("0015", -1);
        d.mul_pow2(30);
        assert_eq!(d.to_u64(), Some(1_610_612_736));
        let mut d = Decimal::from_digits("1", -12);
        d.mul_small(1024);
        d.round_up_to(-9);
        assert_eq!(d, Decimal::from_digits("2", -9));
        let mut d = Decimal::from_digits("999", -12);
        d.round_up_to(-9);
        assert_eq!(d, Decimal::from_digits("1", -9));
        let mut d = Decimal::from_digits("1", -4000);
        d.round_up_to(-9);
        assert_eq!(d, Decimal::from_digits("1", -9));
    }

    #[test]
    fn compares_and_canonicalizes() {
        let a = Decimal::from_digits("10240", -1);
        assert_eq!(a.cmp_value(&Decimal::from_u64(1024)), Ordering::Equal);
        assert_eq!(
            Decimal::from_digits("5", -1).cmp_value(&Decimal::from_u64(1)),
            Ordering::Less
        );
        assert_eq!(
            Decimal::from_digits("15", 0).canonical_base10(),
            ("15".into(), 0)
        );
        assert_eq!(
            Decimal::from_digits("15", -1).canonical_base10(),
            ("1500".into(), -3)
        );
        assert_eq!(
            Decimal::from_digits("1000", 18).canonical_base10(),
            ("1".into(), 21)
        );
        assert_eq!(
            Decimal::from_digits("5", -1).to_i128_units(-9),
            Some(500_000_000)
        );
    }
}
