//! The unified social credit code (统一社会信用代码) of GB 32100-2015: the 18-character
//! identifier of every legal entity in mainland China, with its check character.

use std::fmt;

use serde::Serialize;

use crate::error::ValidationError;

/// The 31 code characters of GB 32100-2015 §4.2, in value order (0–30). I, O, S, V and Z are
/// left out so that they cannot be misread as 1, 0, 5, U and 2.
const CHARSET: &[u8; 31] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";

/// Weights of positions 1–17: Wᵢ = 3^(i−1) mod 31 (GB 32100-2015 §5).
const WEIGHTS: [u32; 17] = [
    1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28,
];

/// A unified social credit code whose structure and check character are valid.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct UnifiedSocialCreditCode(String);

fn value_of(c: u8) -> Option<u32> {
    CHARSET.iter().position(|&x| x == c).map(|v| v as u32)
}

impl UnifiedSocialCreditCode {
    /// The field name used in errors.
    pub const FIELD: &'static str = "unified_social_credit_code";

    /// Validates a code: 18 characters of the code set (lower case is accepted and upper-cased,
    /// spaces around are trimmed), positions 3–8 a 6-digit administrative division code, and the
    /// 18th character equal to the check character C₁₈ = 31 − (Σ Cᵢ·Wᵢ mod 31), 31 written as 0.
    pub fn parse(s: &str) -> Result<Self, ValidationError> {
        let err = |reason: &str| ValidationError::new(Self::FIELD, reason);
        let code = s.trim().to_ascii_uppercase();
        if code.chars().count() != 18 {
            return Err(err("must be exactly 18 characters"));
        }
        let bytes = code.as_bytes();
        let mut values = [0u32; 18];
        for (i, &b) in bytes.iter().enumerate() {
            values[i] = value_of(b).ok_or_else(|| {
                err("may contain only digits and upper-case letters other than I, O, S, V, Z")
            })?;
        }
        if !bytes[2..8].iter().all(u8::is_ascii_digit) {
            return Err(err(
                "characters 3 to 8 must be the digits of an administrative division code",
            ));
        }
        let sum: u32 = values[..17].iter().zip(WEIGHTS).map(|(v, w)| v * w).sum();
        let check = (31 - sum % 31) % 31;
        if values[17] != check {
            return Err(err("check character does not match (GB 32100-2015)"));
        }
        Ok(Self(code))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The registration authority (position 1): `9` is the market regulator (companies), `5`
    /// civil affairs (social organisations), `1` institutional staffing, and so on.
    pub fn registration_authority(&self) -> char {
        char::from(self.0.as_bytes()[0])
    }
}

impl fmt::Display for UnifiedSocialCreditCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Codes published on business licences and company registries.
    const PUBLISHED: [&str; 10] = [
        "91440300708461136T", // 深圳市腾讯计算机系统有限公司
        "914403001922038216", // 华为技术有限公司
        "91330100799655058B", // 阿里巴巴(中国)有限公司
        "91110108551385082Q", // 小米科技有限责任公司
        "91110000802100433B", // 北京百度网讯科技有限公司
        "91440300192317458F", // 比亚迪股份有限公司
        "91350200776049653A",
        "91350503MA31DKY80A",
        "9135021359498494XQ",
        "123502001549897397", // an institution (registration authority 1)
    ];

    #[test]
    fn published_codes_are_accepted() {
        for code in PUBLISHED {
            let parsed = UnifiedSocialCreditCode::parse(code).unwrap_or_else(|e| {
                panic!("{code}: {e}");
            });
            assert_eq!(parsed.as_str(), code);
        }
        assert_eq!(
            UnifiedSocialCreditCode::parse(" 91440300708461136t ")
                .unwrap()
                .as_str(),
            "91440300708461136T"
        );
    }

    #[test]
    fn a_changed_character_breaks_the_check() {
        for code in PUBLISHED {
            for pos in [0usize, 8, 16, 17] {
                let mut bytes = code.as_bytes().to_vec();
                let v = value_of(bytes[pos]).unwrap();
                let replacement = CHARSET[((v + 1) % 31) as usize];
                // Keep positions 3-8 digits so the checksum, not the structure, is what fails.
                bytes[pos] = replacement;
                let changed = String::from_utf8(bytes).unwrap();
                let err = UnifiedSocialCreditCode::parse(&changed).unwrap_err();
                assert_eq!(err.field, "unified_social_credit_code", "{changed}");
            }
        }
    }

    #[test]
    fn structure_errors_say_what_is_wrong() {
        let cases = [
            ("9144030070846113", "18 characters"),
            ("91440300708461136TX", "18 characters"),
            ("91440300708461I36T", "other than I"),
            ("91A40300708461136T", "administrative division"),
            ("91440300708461136S", "other than I"),
            // An early pilot code that was issued without a valid check character.
            ("91350100M0001TGQXM", "check character"),
        ];
        for (code, needle) in cases {
            let err = UnifiedSocialCreditCode::parse(code).unwrap_err();
            assert!(err.reason.contains(needle), "{code}: {}", err.reason);
        }
    }

    #[test]
    fn weights_are_powers_of_three_mod_31() {
        let mut w = 1u32;
        for expected in WEIGHTS {
            assert_eq!(w, expected);
            w = w * 3 % 31;
        }
    }
}
