//! The ids of `bench ingest`'s deliveries: derived from the run's key and each
//! delivery's serial number, one-to-one, so two deliveries of a run never share an id
//! (and so never a stored event), without any bookkeeping between connections.

/// A bijection on 64 bits that looks random (SplitMix64's finalizer): scrambled
/// serials stay distinct.
pub fn scramble(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The ids of one delivery, derived from the run's key and the delivery's serial
/// number. For each `salt`, an id is a one-to-one function of the serial, so two
/// deliveries of a run never share one (as long as it has at least 64 bits' worth of
/// characters); ids that need not be unique (order numbers) are shorter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ids {
    run: u64,
    serial: u64,
}

const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const HEX: &[u8] = b"0123456789abcdef";

impl Ids {
    /// The ids of delivery `serial` of run `run`.
    pub fn new(run: u64, serial: u64) -> Self {
        Self { run, serial }
    }

    /// 64 bits unique to the serial for this `salt` (and varying with the run).
    fn bits(self, salt: u64) -> u64 {
        scramble(self.serial ^ scramble(self.run ^ salt.wrapping_mul(0x9E37_79B9_7F4A_7C15)))
    }

    /// The serial's bits written in `len` digits of `alphabet`'s base: the low digits
    /// hold all 64 bits (so ids of at least 11 base-62 or 13 base-36 digits are
    /// unique); digits beyond them come from further scrambles, not leading zeros.
    /// 64-bit arithmetic only: ids are written for every delivery, and 128-bit
    /// division made them the costliest part of a body.
    fn digits(self, salt: u64, alphabet: &[u8], len: usize) -> String {
        let base = alphabet.len() as u64;
        let mut value = self.bits(salt);
        // Digits the first word fills exactly (the serial's bits), then per refill.
        let first = u64::MAX.ilog(base) as usize + 1;
        let per_refill = first - 1;
        let mut more = value;
        let mut out = vec![b'0'; len];
        for (n, slot) in out.iter_mut().rev().enumerate() {
            if n >= first && (n - first).is_multiple_of(per_refill) {
                more = scramble(more ^ self.run);
                value = more;
            }
            *slot = alphabet[(value % base) as usize];
            value /= base;
        }
        String::from_utf8(out).unwrap_or_default()
    }

    /// Letters and digits, both cases (Stripe's ids).
    pub fn alnum(self, salt: u64, len: usize) -> String {
        self.digits(salt, BASE62, len)
    }

    /// Upper-case letters and digits (PayPal's ids).
    pub fn alnum_upper(self, salt: u64, len: usize) -> String {
        self.digits(salt, &BASE62[..36], len)
    }

    /// 32 lower-case hex characters, every fourth a letter: 24 free nibbles hold the
    /// serial's 64 bits and 32 of the run's. The letters keep digit runs short, so no
    /// id ever reads as a card or phone number to the store's personal-data guard.
    pub fn hex32(self, salt: u64) -> String {
        let bits = self.bits(salt);
        let mut free = (u128::from(self.run >> 32) << 64) | u128::from(bits);
        let mut letters = self.run;
        let mut out = String::with_capacity(32);
        for position in 0..32 {
            if position % 4 == 0 {
                out.push(char::from(b'a' + (letters % 6) as u8));
                letters /= 6;
            } else {
                out.push(char::from(HEX[(free & 0xf) as usize]));
                free >>= 4;
            }
        }
        out
    }

    /// A UUID-shaped id (8-4-4-4-12 of [`Ids::hex32`]; every group starts with a letter).
    pub fn uuid(self, salt: u64) -> String {
        let hex = self.hex32(salt);
        let part = |range: std::ops::Range<usize>| hex.get(range).unwrap_or_default();
        format!(
            "{}-{}-{}-{}-{}",
            part(0..8),
            part(8..12),
            part(12..16),
            part(16..20),
            part(20..32)
        )
    }

    /// A number in `low..low + span` (not unique: for order numbers and the like).
    pub fn number(self, salt: u64, low: u64, span: u64) -> u64 {
        low + self.bits(salt) % span.max(1)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn ids_are_one_to_one_with_serials_and_keep_digit_runs_short() {
        let mut uuids = HashSet::new();
        let mut hexes = HashSet::new();
        let mut stripe = HashSet::new();
        let mut paypal = HashSet::new();
        let longest_digit_run = |text: &str| {
            text.split(|c: char| !c.is_ascii_digit())
                .map(str::len)
                .max()
                .unwrap_or(0)
        };
        for serial in (0..20_000_u64).chain([1 << 40, (1 << 40) + 1, u64::MAX]) {
            let ids = Ids::new(0xDEAD_BEEF, serial);
            let uuid = ids.uuid(1);
            assert_eq!(uuid.len(), 36);
            assert_eq!(uuid.matches('-').count(), 4);
            let hex = ids.hex32(1);
            assert_eq!(hex.len(), 32);
            assert!(hex.bytes().all(|b| b.is_ascii_hexdigit()));
            assert!(longest_digit_run(&hex) <= 3, "{hex}");
            assert!(longest_digit_run(&uuid) <= 3, "{uuid}");
            assert!(uuids.insert(uuid));
            assert!(hexes.insert(hex));
            assert!(stripe.insert(ids.alnum(2, 23)));
            assert!(paypal.insert(ids.alnum_upper(2, 17)));
            assert!((10..20).contains(&ids.number(3, 10, 10)));
        }
        // Another run gives other ids for the same serial.
        assert_ne!(Ids::new(1, 5).uuid(1), Ids::new(2, 5).uuid(1));
    }

    #[test]
    fn long_ids_are_not_padded_with_zeros() {
        let ids = Ids::new(3, 4);
        for (id, len) in [(ids.alnum(1, 40), 40), (ids.alnum_upper(1, 34), 34)] {
            assert_eq!(id.len(), len);
            assert!(!id.starts_with("000"), "{id}");
        }
        // The low digits are those of the short form, so long ids stay unique.
        assert!(ids.alnum(1, 40).ends_with(&ids.alnum(1, 11)));
    }
}
