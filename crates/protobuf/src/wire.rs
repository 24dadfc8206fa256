//! Protobuf wire format: a bounds-checked reader over a byte slice.

use crate::DecodeError;

/// Wire types of the protobuf encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireType {
    Varint,
    Fixed64,
    Len,
    Fixed32,
}

impl WireType {
    pub fn name(self) -> &'static str {
        match self {
            WireType::Varint => "varint",
            WireType::Fixed64 => "fixed64",
            WireType::Len => "length-delimited",
            WireType::Fixed32 => "fixed32",
        }
    }
}

pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    pub fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }

    pub fn varint(&mut self) -> Result<u64, DecodeError> {
        let mut value: u64 = 0;
        for i in 0..10 {
            let byte = *self.buf.get(self.pos).ok_or(DecodeError::Truncated)?;
            self.pos += 1;
            // The tenth byte may only carry the top bit of a u64.
            if i == 9 && byte > 1 {
                return Err(DecodeError::VarintOverflow);
            }
            value |= u64::from(byte & 0x7f) << (7 * i);
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(DecodeError::VarintOverflow)
    }

    /// Reads a field key: (field number, wire type).
    pub fn key(&mut self) -> Result<(u32, WireType), DecodeError> {
        let key = self.varint()?;
        let number = key >> 3;
        if number == 0 || number > u64::from(u32::MAX >> 3) {
            return Err(DecodeError::InvalidFieldNumber(number));
        }
        let wire = match key & 7 {
            0 => WireType::Varint,
            1 => WireType::Fixed64,
            2 => WireType::Len,
            5 => WireType::Fixed32,
            // 3/4 are proto2 groups, which no Kubernetes message uses.
            other => return Err(DecodeError::InvalidWireType(other as u8)),
        };
        Ok((number as u32, wire))
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let end = self.pos.checked_add(n).ok_or(DecodeError::Truncated)?;
        let out = self.buf.get(self.pos..end).ok_or(DecodeError::Truncated)?;
        self.pos = end;
        Ok(out)
    }

    /// Reads a length-delimited payload; the length is checked against what is left.
    pub fn bytes(&mut self) -> Result<&'a [u8], DecodeError> {
        let len = self.varint()?;
        let len = usize::try_from(len).map_err(|_| DecodeError::Truncated)?;
        self.take(len)
    }

    pub fn fixed64(&mut self) -> Result<u64, DecodeError> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }

    pub fn fixed32(&mut self) -> Result<u32, DecodeError> {
        let b = self.take(4)?;
        let mut a = [0u8; 4];
        a.copy_from_slice(b);
        Ok(u32::from_le_bytes(a))
    }

    /// Skips a field's value (unknown fields are ignored, like Go does).
    pub fn skip(&mut self, wire: WireType) -> Result<(), DecodeError> {
        match wire {
            WireType::Varint => self.varint().map(drop),
            WireType::Fixed64 => self.fixed64().map(drop),
            WireType::Len => self.bytes().map(drop),
            WireType::Fixed32 => self.fixed32().map(drop),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints() {
        let cases: &[(&[u8], Result<u64, DecodeError>)] = &[
            (&[0], Ok(0)),
            (&[1], Ok(1)),
            (&[0xac, 0x02], Ok(300)),
            (
                &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01],
                Ok(u64::MAX),
            ),
            (&[0x80], Err(DecodeError::Truncated)),
            (&[], Err(DecodeError::Truncated)),
            (
                &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02],
                Err(DecodeError::VarintOverflow),
            ),
            (&[0x80; 11], Err(DecodeError::VarintOverflow)),
        ];
        for (input, want) in cases {
            assert_eq!(&Reader::new(input).varint(), want, "{input:?}");
        }
    }

    #[test]
    fn keys() {
        assert_eq!(Reader::new(&[0x0a]).key(), Ok((1, WireType::Len)));
        assert_eq!(Reader::new(&[0x10]).key(), Ok((2, WireType::Varint)));
        assert_eq!(Reader::new(&[0x19]).key(), Ok((3, WireType::Fixed64)));
        assert_eq!(Reader::new(&[0x25]).key(), Ok((4, WireType::Fixed32)));
        assert_eq!(
            Reader::new(&[0x0b]).key(),
            Err(DecodeError::InvalidWireType(3))
        );
        assert_eq!(
            Reader::new(&[0x0e]).key(),
            Err(DecodeError::InvalidWireType(6))
        );
        assert_eq!(
            Reader::new(&[0x02]).key(),
            Err(DecodeError::InvalidFieldNumber(0))
        );
    }

    #[test]
    fn lengths_are_bounded_by_the_buffer() {
        assert_eq!(
            Reader::new(&[3, b'a', b'b']).bytes(),
            Err(DecodeError::Truncated)
        );
        assert_eq!(Reader::new(&[2, b'a', b'b']).bytes(), Ok(&b"ab"[..]));
        let huge = [
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0,
        ];
        assert_eq!(Reader::new(&huge).bytes(), Err(DecodeError::Truncated));
        assert_eq!(
            Reader::new(&[1, 2, 3]).fixed64(),
            Err(DecodeError::Truncated)
        );
        assert_eq!(Reader::new(&[1, 0, 0, 0]).fixed32(), Ok(1));
    }

    #[test]
    fn skips_every_wire_type() {
        let mut r = Reader::new(&[
            0x96, 0x01, 1, 2, 3, 4, 5, 6, 7, 8, 2, b'x', b'y', 9, 9, 9, 9,
        ]);
        r.skip(WireType::Varint).unwrap();
        r.skip(WireType::Fixed64).unwrap();
        r.skip(WireType::Len).unwrap();
        r.skip(WireType::Fixed32).unwrap();
        assert!(r.is_empty());
        assert_eq!(r.skip(WireType::Fixed32), Err(DecodeError::Truncated));
    }
}
