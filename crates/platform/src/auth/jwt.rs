//! Compact JWS with Ed25519 (RFC 7515, RFC 8037), hardened as RFC 8725 asks.
//!
//! Verification accepts exactly one algorithm (`EdDSA`), one token type per use
//! (`at+jwt` for access tokens), and keys only from the local key set by `kid`: a token
//! naming a key by URL (`jku`, `x5u`) or embedding one (`jwk`, `x5c`) is refused without
//! any outbound fetch, as is any `crit` extension. Claims are checked for issuer,
//! audience, expiry and not-before.

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};

use data_encoding::BASE64URL_NOPAD;

/// The only accepted `alg`.
pub const ALG: &str = "EdDSA";
/// `typ` of access tokens (RFC 9068).
pub const TYP_ACCESS: &str = "at+jwt";
/// `typ` of the short-lived token that proves a password was right while MFA is pending.
pub const TYP_MFA_PENDING: &str = "mfa+jwt";

/// Why a token was refused. Clients only ever see a generic 401.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not three base64url parts of JSON.
    #[error("malformed token")]
    Malformed,
    /// `alg` is not EdDSA.
    #[error("algorithm not allowed")]
    Algorithm,
    /// `typ` is not the expected token type.
    #[error("wrong token type")]
    Type,
    /// The header carries a key reference or extension that is never honoured.
    #[error("forbidden header parameter `{0}`")]
    ForbiddenHeader(&'static str),
    /// `kid` is missing or not in the key set.
    #[error("unknown key")]
    UnknownKey,
    /// The signature does not verify.
    #[error("bad signature")]
    Signature,
    /// Past `exp`.
    #[error("token expired")]
    Expired,
    /// Before `nbf`.
    #[error("token not yet valid")]
    NotYetValid,
    /// `iss` is not ours.
    #[error("wrong issuer")]
    Issuer,
    /// `aud` does not include ours.
    #[error("wrong audience")]
    Audience,
    /// The keys to check it with could not be read (identity unreachable).
    #[error("verifying keys unavailable")]
    KeysUnavailable,
}

/// The claims Viscount tokens carry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Issuer URL.
    pub iss: String,
    /// Subject: a user id, or an API key id for client credentials.
    pub sub: String,
    /// Audience.
    pub aud: Audience,
    /// Expiry (epoch seconds).
    pub exp: i64,
    /// Issued at (epoch seconds).
    pub iat: i64,
    /// Not before (epoch seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    /// Token id.
    pub jti: String,
    /// Roles of the subject (`customer`, `admin`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
    /// Space-separated scopes (RFC 8693 `scope`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// The session (refresh-token family) the token belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// The OAuth client, for client-credentials tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
}

/// `aud`: one string or several.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    /// A single audience.
    One(String),
    /// Several audiences.
    Many(Vec<String>),
}

impl Audience {
    fn contains(&self, audience: &str) -> bool {
        match self {
            Audience::One(a) => a == audience,
            Audience::Many(all) => all.iter().any(|a| a == audience),
        }
    }
}

#[derive(Serialize)]
struct Header<'a> {
    alg: &'a str,
    typ: &'a str,
    kid: &'a str,
}

/// Signs `claims` as a compact JWS of type `typ` with `key`, naming it `kid`.
pub fn sign<C: Serialize>(claims: &C, typ: &str, kid: &str, key: &SigningKey) -> String {
    let header = Header { alg: ALG, typ, kid };
    // Serializing plain structs of strings and numbers cannot fail.
    let header = serde_json::to_vec(&header).unwrap_or_default();
    let claims = serde_json::to_vec(claims).unwrap_or_default();
    let signing_input = format!(
        "{}.{}",
        BASE64URL_NOPAD.encode(&header),
        BASE64URL_NOPAD.encode(&claims)
    );
    let signature = key.sign(signing_input.as_bytes());
    format!(
        "{signing_input}.{}",
        BASE64URL_NOPAD.encode(&signature.to_bytes())
    )
}

/// What a verifier expects of a token.
#[derive(Debug, Clone)]
pub struct Expectations<'a> {
    /// Required `typ`.
    pub typ: &'a str,
    /// Required `iss`.
    pub issuer: &'a str,
    /// Required member of `aud`.
    pub audience: &'a str,
    /// Current time, epoch seconds.
    pub now: i64,
}

/// The `kid` a token names, read without verifying anything (to pick the key).
pub fn kid_of(token: &str) -> Result<String, TokenError> {
    let (header, _, _) = split(token)?;
    let header: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&header).map_err(|_| TokenError::Malformed)?;
    header
        .get("kid")
        .and_then(|k| k.as_str())
        .map(str::to_owned)
        .ok_or(TokenError::UnknownKey)
}

/// The decoded header, claims and signature of a compact JWS.
type Parts = (Vec<u8>, Vec<u8>, Vec<u8>);

fn split(token: &str) -> Result<Parts, TokenError> {
    let mut parts = token.split('.');
    let (Some(h), Some(c), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenError::Malformed);
    };
    let decode = |p: &str| {
        BASE64URL_NOPAD
            .decode(p.as_bytes())
            .map_err(|_| TokenError::Malformed)
    };
    Ok((decode(h)?, decode(c)?, decode(s)?))
}

/// Verifies `token` with `key` (the key its `kid` names) against `expect`.
pub fn verify(
    token: &str,
    key: &VerifyingKey,
    expect: &Expectations<'_>,
) -> Result<Claims, TokenError> {
    let (header, claims, signature) = split(token)?;
    let header: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&header).map_err(|_| TokenError::Malformed)?;
    if header.get("alg").and_then(|v| v.as_str()) != Some(ALG) {
        return Err(TokenError::Algorithm);
    }
    for forbidden in ["jku", "x5u", "jwk", "x5c", "crit"] {
        if header.contains_key(forbidden) {
            return Err(TokenError::ForbiddenHeader(forbidden));
        }
    }
    if header.get("typ").and_then(|v| v.as_str()) != Some(expect.typ) {
        return Err(TokenError::Type);
    }
    let signature: [u8; 64] = signature.try_into().map_err(|_| TokenError::Signature)?;
    let signing_input_len = token.rfind('.').ok_or(TokenError::Malformed)?;
    key.verify_strict(
        &token.as_bytes()[..signing_input_len],
        &Signature::from_bytes(&signature),
    )
    .map_err(|_| TokenError::Signature)?;
    let claims: Claims = serde_json::from_slice(&claims).map_err(|_| TokenError::Malformed)?;
    if claims.iss != expect.issuer {
        return Err(TokenError::Issuer);
    }
    if !claims.aud.contains(expect.audience) {
        return Err(TokenError::Audience);
    }
    check_validity(&claims, expect.now)?;
    Ok(claims)
}

/// Whether verified `claims` are valid at `now` (seconds): not expired, not before
/// their `nbf`.
pub fn check_validity(claims: &Claims, now: i64) -> Result<(), TokenError> {
    if claims.exp <= now {
        return Err(TokenError::Expired);
    }
    if claims.nbf.is_some_and(|nbf| nbf > now) {
        return Err(TokenError::NotYetValid);
    }
    Ok(())
}

/// A JSON Web Key for an Ed25519 public key (RFC 8037).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwk {
    /// `OKP`.
    pub kty: String,
    /// `Ed25519`.
    pub crv: String,
    /// The public key, base64url.
    pub x: String,
    /// Key id.
    pub kid: String,
    /// `EdDSA`.
    pub alg: String,
    /// `sig`.
    #[serde(rename = "use")]
    pub key_use: String,
}

impl Jwk {
    /// The JWK of `key` named `kid`.
    pub fn ed25519(kid: &str, key: &VerifyingKey) -> Self {
        Self {
            kty: "OKP".into(),
            crv: "Ed25519".into(),
            x: BASE64URL_NOPAD.encode(key.as_bytes()),
            kid: kid.into(),
            alg: ALG.into(),
            key_use: "sig".into(),
        }
    }

    /// The verifying key, if this is a well-formed Ed25519 JWK.
    pub fn verifying_key(&self) -> Option<VerifyingKey> {
        if self.kty != "OKP" || self.crv != "Ed25519" {
            return None;
        }
        let bytes: [u8; 32] = BASE64URL_NOPAD
            .decode(self.x.as_bytes())
            .ok()?
            .try_into()
            .ok()?;
        VerifyingKey::from_bytes(&bytes).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SigningKey {
        SigningKey::from_bytes(&[7u8; 32])
    }

    fn claims(now: i64) -> Claims {
        Claims {
            iss: "https://id.example".into(),
            sub: "u1".into(),
            aud: Audience::One("viscount".into()),
            exp: now + 900,
            iat: now,
            nbf: None,
            jti: "j1".into(),
            roles: vec!["customer".into()],
            scope: None,
            sid: Some("s1".into()),
            client_id: None,
        }
    }

    fn expect(now: i64) -> Expectations<'static> {
        Expectations {
            typ: TYP_ACCESS,
            issuer: "https://id.example",
            audience: "viscount",
            now,
        }
    }

    fn forge(header: serde_json::Value, claims: &Claims, sig: &[u8]) -> String {
        format!(
            "{}.{}.{}",
            BASE64URL_NOPAD.encode(&serde_json::to_vec(&header).expect("json")),
            BASE64URL_NOPAD.encode(&serde_json::to_vec(claims).expect("json")),
            BASE64URL_NOPAD.encode(sig)
        )
    }

    #[test]
    fn a_signed_token_round_trips() {
        let token = sign(&claims(1000), TYP_ACCESS, "k1", &key());
        assert_eq!(kid_of(&token).as_deref(), Ok("k1"));
        let got = verify(&token, &key().verifying_key(), &expect(1000)).expect("valid");
        assert_eq!(got, claims(1000));
    }

    #[test]
    fn every_rfc8725_attack_is_refused() {
        let vk = key().verifying_key();
        let good = sign(&claims(1000), TYP_ACCESS, "k1", &key());
        let cases: Vec<(String, TokenError)> = vec![
            (
                forge(
                    serde_json::json!({"alg":"none","typ":"at+jwt","kid":"k1"}),
                    &claims(1000),
                    b"",
                ),
                TokenError::Algorithm,
            ),
            (
                forge(
                    serde_json::json!({"alg":"HS256","typ":"at+jwt","kid":"k1"}),
                    &claims(1000),
                    &[0; 32],
                ),
                TokenError::Algorithm,
            ),
            (
                forge(
                    serde_json::json!({"alg":"EdDSA","typ":"at+jwt","kid":"k1","jku":"http://evil"}),
                    &claims(1000),
                    &[0; 64],
                ),
                TokenError::ForbiddenHeader("jku"),
            ),
            (
                forge(
                    serde_json::json!({"alg":"EdDSA","typ":"at+jwt","kid":"k1","x5u":"http://evil"}),
                    &claims(1000),
                    &[0; 64],
                ),
                TokenError::ForbiddenHeader("x5u"),
            ),
            (
                sign(&claims(1000), TYP_MFA_PENDING, "k1", &key()),
                TokenError::Type,
            ),
            (
                sign(&claims(0), TYP_ACCESS, "k1", &key()),
                TokenError::Expired,
            ),
            (
                sign(
                    &Claims {
                        nbf: Some(2000),
                        ..claims(1000)
                    },
                    TYP_ACCESS,
                    "k1",
                    &key(),
                ),
                TokenError::NotYetValid,
            ),
            (
                sign(
                    &Claims {
                        iss: "https://evil".into(),
                        ..claims(1000)
                    },
                    TYP_ACCESS,
                    "k1",
                    &key(),
                ),
                TokenError::Issuer,
            ),
            (
                sign(
                    &Claims {
                        aud: Audience::Many(vec!["other".into()]),
                        ..claims(1000)
                    },
                    TYP_ACCESS,
                    "k1",
                    &key(),
                ),
                TokenError::Audience,
            ),
            (
                sign(
                    &claims(1000),
                    TYP_ACCESS,
                    "k1",
                    &SigningKey::from_bytes(&[8u8; 32]),
                ),
                TokenError::Signature,
            ),
            (format!("{good}.x"), TokenError::Malformed),
        ];
        for (token, want) in cases {
            assert_eq!(
                verify(&token, &vk, &expect(1000)),
                Err(want.clone()),
                "{want:?}"
            );
        }
    }

    #[test]
    fn tampered_claims_break_the_signature() {
        let token = sign(&claims(1000), TYP_ACCESS, "k1", &key());
        let parts: Vec<&str> = token.split('.').collect();
        let mut elevated = claims(1000);
        elevated.roles = vec!["admin".into()];
        let tampered = format!(
            "{}.{}.{}",
            parts[0],
            BASE64URL_NOPAD.encode(&serde_json::to_vec(&elevated).expect("json")),
            parts[2]
        );
        assert_eq!(
            verify(&tampered, &key().verifying_key(), &expect(1000)),
            Err(TokenError::Signature)
        );
    }

    #[test]
    fn jwk_round_trips() {
        let vk = key().verifying_key();
        assert_eq!(Jwk::ed25519("k1", &vk).verifying_key(), Some(vk));
    }
}
