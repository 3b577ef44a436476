//! The partner application form of the portal: reading it, and reporting every invalid field
//! at once in the applicant's language. The rules are core's (`ApplicationForm::validate`),
//! which names the first invalid field; to find the others, that field is replaced by a value
//! known to be valid and the form is checked again, so no rule is written twice.

use openpile_core::operator::validate_password;
use openpile_core::partner::application::{ApplicationForm, ApplicationInput};

use crate::form::{FieldErrors, FormData};
use crate::i18n::Messages;

/// The form as typed (every field as text, so it can be shown again).
#[derive(Debug, Clone, Default)]
pub(crate) struct Draft {
    pub(crate) company_name: String,
    pub(crate) unified_social_credit_code: String,
    pub(crate) legal_representative: String,
    pub(crate) contact_name: String,
    pub(crate) mobile: String,
    pub(crate) email: String,
    pub(crate) website: String,
    pub(crate) intended_use: String,
    pub(crate) expected_monthly_volume: String,
    pub(crate) callback_base_url: String,
}

impl Draft {
    pub(crate) fn from_form(f: &FormData) -> Self {
        let v = |name: &str| f.get(name).trim().to_owned();
        Self {
            company_name: v("company_name"),
            unified_social_credit_code: v("unified_social_credit_code"),
            legal_representative: v("legal_representative"),
            contact_name: v("contact_name"),
            mobile: v("mobile"),
            email: v("email"),
            website: v("website"),
            // Free text: keep its line breaks, drop only the outer blanks.
            intended_use: f.get("intended_use").trim().to_owned(),
            expected_monthly_volume: v("expected_monthly_volume"),
            callback_base_url: v("callback_base_url"),
        }
    }

    /// The form of a submitted revision, to correct it.
    pub(crate) fn of(form: &ApplicationForm) -> Self {
        let i = form.to_input();
        Self {
            company_name: i.company_name,
            unified_social_credit_code: i.unified_social_credit_code,
            legal_representative: i.legal_representative,
            contact_name: i.contact_name,
            mobile: i.mobile,
            email: i.email,
            website: i.website.unwrap_or_default(),
            intended_use: i.intended_use,
            expected_monthly_volume: i.expected_monthly_volume.to_string(),
            callback_base_url: i.callback_base_url,
        }
    }
}

/// A valid value for `field`, used to look past it for further errors; `false` when the field
/// is not one of the form's.
fn substitute(input: &mut ApplicationInput, field: &str) -> bool {
    match field {
        "company_name" => input.company_name = "x".into(),
        // A valid code (GB 32100-2015 check character).
        "unified_social_credit_code" => {
            input.unified_social_credit_code = "91440300708461136T".into();
        }
        "legal_representative" => input.legal_representative = "x".into(),
        "contact_name" => input.contact_name = "x".into(),
        "mobile" => input.mobile = "13800138000".into(),
        "email" => input.email = "a@example.com".into(),
        "website" => input.website = None,
        "intended_use" => input.intended_use = "x".into(),
        "expected_monthly_volume" => input.expected_monthly_volume = 0,
        "callback_base_url" => input.callback_base_url = "https://example.com".into(),
        _ => return false,
    }
    true
}

/// The message for an invalid field.
pub(crate) fn message(field: &str, t: &'static Messages) -> &'static str {
    match field {
        "company_name" => t.err_company_name,
        "unified_social_credit_code" => t.err_uscc,
        "legal_representative" => t.err_legal_representative,
        "contact_name" => t.err_contact_name,
        "mobile" => t.err_mobile,
        "email" => t.err_email,
        "website" => t.err_website,
        "intended_use" => t.err_intended_use,
        "expected_monthly_volume" => t.err_volume,
        "callback_base_url" => t.err_callback_url,
        _ => t.err_invalid,
    }
}

/// Checks the whole form; on success the input to hand to core.
pub(crate) fn check(d: &Draft, t: &'static Messages) -> Result<ApplicationInput, FieldErrors> {
    let mut errors = FieldErrors::default();
    let volume = if d.expected_monthly_volume.is_empty() {
        errors.add("expected_monthly_volume", t.err_required);
        0
    } else {
        d.expected_monthly_volume
            .parse::<u64>()
            .unwrap_or_else(|_| {
                errors.add("expected_monthly_volume", t.err_volume);
                0
            })
    };
    let input = ApplicationInput {
        company_name: d.company_name.clone(),
        unified_social_credit_code: d.unified_social_credit_code.clone(),
        legal_representative: d.legal_representative.clone(),
        contact_name: d.contact_name.clone(),
        mobile: d.mobile.clone(),
        email: d.email.clone(),
        website: (!d.website.is_empty()).then(|| d.website.clone()),
        intended_use: d.intended_use.clone(),
        expected_monthly_volume: volume,
        callback_base_url: d.callback_base_url.clone(),
    };
    let mut probe = input.clone();
    // Each round fixes one field; ten fields bound the rounds.
    for _ in 0..=10 {
        match ApplicationForm::validate(&probe) {
            Ok(_) => break,
            Err(e) => {
                errors.add(e.field.clone(), message(&e.field, t));
                if !substitute(&mut probe, &e.field) {
                    break;
                }
            }
        }
    }
    if errors.any() { Err(errors) } else { Ok(input) }
}

/// Checks the password fields of a new application.
pub(crate) fn check_password(
    password: &str,
    confirm: &str,
    errors: &mut FieldErrors,
    t: &'static Messages,
) {
    if validate_password("password", password).is_err() {
        errors.add("password", t.err_password_short);
    } else if password != confirm {
        errors.add("password_confirm", t.err_password_mismatch);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::i18n::{EN, ZH};

    fn good() -> Draft {
        Draft {
            company_name: "深圳市腾讯计算机系统有限公司".into(),
            unified_social_credit_code: "91440300708461136T".into(),
            legal_representative: "马化腾".into(),
            contact_name: "张三".into(),
            mobile: "+86 138 0013 8000".into(),
            email: "partner@example.com".into(),
            website: String::new(),
            intended_use: "在 App 中展示充电站".into(),
            expected_monthly_volume: "50000".into(),
            callback_base_url: "https://partner.example.com/openpile".into(),
        }
    }

    #[test]
    fn a_good_form_passes() {
        let input = check(&good(), &EN).unwrap();
        assert_eq!(input.website, None);
        assert_eq!(input.expected_monthly_volume, 50_000);
    }

    #[test]
    fn every_bad_field_is_reported_at_once() {
        let mut d = good();
        d.unified_social_credit_code = "91440300708461136X".into();
        d.mobile = "12345".into();
        d.callback_base_url = "ftp://x".into();
        d.expected_monthly_volume = "lots".into();
        let e = check(&d, &ZH).unwrap_err();
        for f in [
            "unified_social_credit_code",
            "mobile",
            "callback_base_url",
            "expected_monthly_volume",
        ] {
            assert!(e.has(f), "{f} not reported");
        }
        assert!(!e.has("email"));
        assert_eq!(e.get("mobile"), Some(ZH.err_mobile));
    }

    #[test]
    fn passwords_must_be_long_and_repeated() {
        let mut e = FieldErrors::default();
        check_password("short", "short", &mut e, &EN);
        assert!(e.has("password"));
        let mut e = FieldErrors::default();
        check_password(
            "correct horse battery",
            "correct horse batterx",
            &mut e,
            &EN,
        );
        assert!(e.has("password_confirm"));
    }
}
