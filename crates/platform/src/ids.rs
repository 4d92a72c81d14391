//! Identifiers and secrets: UUIDv7 ids, random tokens and their hashes.

use sha2::{Digest, Sha256};

/// A new time-ordered id (UUIDv7, hyphenated text).
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// Whether `text` is a well-formed UUID (any version); ids in paths are checked with it so
/// a malformed id is a plain 404 rather than a database round trip.
pub fn is_uuid(text: &str) -> bool {
    uuid::Uuid::try_parse(text).is_ok()
}

/// `n` bytes from the operating system's CSPRNG.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    // The OS generator failing means the machine cannot produce secrets at all;
    // continuing with zeros would be far worse than stopping.
    #[allow(clippy::expect_used)]
    getrandom::fill(&mut bytes).expect("operating system random generator unavailable");
    bytes
}

/// A random secret token: 32 bytes, base64url without padding, behind a readable prefix.
pub fn random_token(prefix: &str) -> String {
    format!(
        "{prefix}{}",
        data_encoding::BASE64URL_NOPAD.encode(&random_bytes::<32>())
    )
}

/// Lowercase hex SHA-256 of a secret, the form secrets are stored and looked up in.
pub fn sha256_hex(input: &[u8]) -> String {
    data_encoding::HEXLOWER.encode(&Sha256::digest(input))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_uuid_v7_and_ordered() {
        let a = new_id();
        let b = new_id();
        assert!(is_uuid(&a));
        assert_eq!(
            uuid::Uuid::parse_str(&a).map(|u| u.get_version_num()).ok(),
            Some(7)
        );
        assert!(a < b || a[..13] == b[..13]);
    }

    #[test]
    fn tokens_differ_and_hash_stably() {
        let a = random_token("vs_");
        assert!(a.starts_with("vs_") && a.len() > 40);
        assert_ne!(a, random_token("vs_"));
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
