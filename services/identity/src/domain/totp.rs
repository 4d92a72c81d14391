//! TOTP (RFC 6238) with SHA-1, 30-second steps and 6 digits, as authenticator apps use.

use hmac::{Hmac, Mac};
use sha1::Sha1;

/// Seconds per step.
pub const STEP_SECS: i64 = 30;
/// Steps of clock drift accepted either way.
pub const DRIFT_STEPS: i64 = 1;

/// The code for step number `step`.
pub fn code_at_step(secret: &[u8], step: i64) -> u32 {
    // HMAC accepts keys of any length, so this cannot fail.
    let Ok(mut mac) = Hmac::<Sha1>::new_from_slice(secret) else {
        return 0;
    };
    mac.update(&step.to_be_bytes());
    let digest = mac.finalize().into_bytes();
    let offset = usize::from(digest[19] & 0x0f);
    let binary = (u32::from(digest[offset]) & 0x7f) << 24
        | u32::from(digest[offset + 1]) << 16
        | u32::from(digest[offset + 2]) << 8
        | u32::from(digest[offset + 3]);
    binary % 1_000_000
}

/// The step number at `unix_secs`.
pub fn step_at(unix_secs: i64) -> i64 {
    unix_secs.div_euclid(STEP_SECS)
}

/// The step `code` matches at `unix_secs` (within drift), if any and if it is later
/// than `last_used_step` — a code is good once.
pub fn verify(
    secret: &[u8],
    code: &str,
    unix_secs: i64,
    last_used_step: Option<i64>,
) -> Option<i64> {
    let code = code.trim();
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let wanted: u32 = code.parse().ok()?;
    let now = step_at(unix_secs);
    (now - DRIFT_STEPS..=now + DRIFT_STEPS)
        .filter(|step| last_used_step.is_none_or(|last| *step > last))
        .find(|step| code_at_step(secret, *step) == wanted)
}

/// The `otpauth://` URL authenticator apps scan.
pub fn otpauth_url(issuer: &str, account: &str, secret_base32: &str) -> String {
    let enc = |s: &str| {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect::<String>()
    };
    format!(
        "otpauth://totp/{}:{}?secret={secret_base32}&issuer={}&algorithm=SHA1&digits=6&period=30",
        enc(issuer),
        enc(account),
        enc(issuer)
    )
}

/// Error correction level M (15% of the symbol recoverable): what authenticator apps'
/// own enrolment screens use, and it keeps the symbol small enough to scan off a phone
/// screen.
const QR_EC_LEVEL: qrcode::EcLevel = qrcode::EcLevel::M;
/// The SVG's smallest side in pixels; the renderer rounds the module size up to reach it.
const QR_MIN_PIXELS: u32 = 200;

/// `otpauth_url` as a QR code the app's camera can scan.
fn otpauth_qr(otpauth_url: &str) -> Result<qrcode::QrCode, qrcode::types::QrError> {
    qrcode::QrCode::with_error_correction_level(otpauth_url, QR_EC_LEVEL)
}

/// `otpauth_url` as a QR code in an SVG document (`image/svg+xml`), about 200px square,
/// with the quiet zone scanners need. Fails only for a URL past a QR code's capacity
/// (over 2,000 bytes at level M), which no email and issuer name reach.
pub fn otpauth_qr_svg(otpauth_url: &str) -> Result<String, qrcode::types::QrError> {
    let svg = otpauth_qr(otpauth_url)?
        .render::<qrcode::render::svg::Color>()
        .quiet_zone(true)
        .min_dimensions(QR_MIN_PIXELS, QR_MIN_PIXELS)
        .build();
    Ok(svg)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads `code` back with an independent decoder: its modules drawn as a bitmap of
    /// `SCALE` pixels per module inside a 4-module quiet zone, as a camera would see it.
    fn decode(code: &qrcode::QrCode) -> String {
        const SCALE: usize = 4;
        const QUIET: usize = 4;
        let width = code.width();
        let colors = code.to_colors();
        let side = (width + 2 * QUIET) * SCALE;
        let mut image = rqrr::PreparedImage::prepare_from_bitmap(side, side, |x, y| {
            let (mx, my) = (x / SCALE, y / SCALE);
            let inside =
                (QUIET..QUIET + width).contains(&mx) && (QUIET..QUIET + width).contains(&my);
            inside && colors[(my - QUIET) * width + (mx - QUIET)] == qrcode::Color::Dark
        });
        let grids = image.detect_grids();
        assert_eq!(grids.len(), 1, "one QR code in the picture");
        let (_meta, text) = grids[0].decode().expect("the QR code decodes");
        text
    }

    #[test]
    fn otpauth_qr_decodes_to_the_url() {
        let url = otpauth_url("Viscount Shop", "ada+mfa@example.com", "JBSWY3DPEHPK3PXP");
        let code = otpauth_qr(&url).expect("a URL this short fits");
        assert_eq!(code.error_correction_level(), qrcode::EcLevel::M);
        assert_eq!(decode(&code), url);

        let svg = otpauth_qr_svg(&url).expect("a URL this short fits");
        assert!(svg.starts_with("<?xml") && svg.ends_with("</svg>"), "{svg}");
        // Quiet zone included: (modules + 2 * 4) * module size, the least size >= 200.
        let module_px = 200_usize.div_ceil(code.width() + 8);
        let side = (code.width() + 8) * module_px;
        assert!((200..260).contains(&side), "about 200px: {side}");
        assert!(
            svg.contains(&format!(r#"width="{side}" height="{side}""#)),
            "{svg}"
        );
    }

    #[test]
    fn otpauth_qr_refuses_what_does_not_fit() {
        assert!(otpauth_qr_svg(&"x".repeat(5_000)).is_err());
    }

    #[test]
    fn totp_matches_rfc6238_vectors() {
        // RFC 6238 appendix B, SHA-1 secret, truncated to 6 digits.
        let secret = b"12345678901234567890";
        assert_eq!(code_at_step(secret, step_at(59)), 287_082);
        assert_eq!(code_at_step(secret, step_at(1_111_111_109)), 81_804);
        assert_eq!(code_at_step(secret, step_at(2_000_000_000)), 279_037);
    }

    #[test]
    fn totp_accepts_drift_and_refuses_reuse() {
        let secret = b"12345678901234567890";
        let now = 1_111_111_109;
        let code = format!("{:06}", code_at_step(secret, step_at(now) - 1));
        let step = verify(secret, &code, now, None).expect("drift of one step accepted");
        assert_eq!(
            verify(secret, &code, now, Some(step)),
            None,
            "a code is good once"
        );
        assert_eq!(verify(secret, "12345", now, None), None);
        assert_eq!(verify(secret, &code, now + 120, None), None);
    }
}
