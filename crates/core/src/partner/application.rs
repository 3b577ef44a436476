//! A partner application: the form a platform submits, its revisions and the operator's
//! decisions on them. Every field is validated here, naming the field as the API spells it, so
//! an application is stored only when all of it is valid.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{TransitionError, ValidationError};
use crate::ids::PartnerId;
use crate::operator::Email;
use crate::partner::contract::Contract;
use crate::partner::uscc::UnifiedSocialCreditCode;

/// A mainland China mobile number, normalised to its 11 digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct MobilePhone(String);

impl MobilePhone {
    pub const FIELD: &'static str = "mobile";

    /// Accepts `13800138000`, `+86 138 0013 8000`, `0086-138-0013-8000` and the like: after
    /// removing spaces and dashes and an optional `+86`/`0086`/`86` country prefix, 11 digits
    /// starting `1` and a second digit 3–9 (the number segments MIIT has allocated to mobile
    /// networks, including virtual operators' 16x/17x and IoT-free 19x).
    pub fn parse(s: &str) -> Result<Self, ValidationError> {
        let compact: String = s
            .trim()
            .chars()
            .filter(|c| !matches!(c, ' ' | '-'))
            .collect();
        let national = compact
            .strip_prefix("+86")
            .or_else(|| compact.strip_prefix("0086"))
            .or_else(|| {
                // A bare 86 prefix only when 11 digits follow, so 86xxxxxxxxx is not mangled.
                (compact.len() == 13)
                    .then(|| compact.strip_prefix("86"))
                    .flatten()
            })
            .unwrap_or(&compact);
        let b = national.as_bytes();
        let ok = b.len() == 11
            && b.iter().all(u8::is_ascii_digit)
            && b[0] == b'1'
            && (b'3'..=b'9').contains(&b[1]);
        if !ok {
            return Err(ValidationError::new(
                Self::FIELD,
                "must be a mainland China mobile number: 11 digits starting 13–19, optionally with +86",
            ));
        }
        Ok(Self(national.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A URL we keep for the partner (website, callback base): absolute http(s), no credentials,
/// no fragment, no whitespace, at most 512 characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct HttpUrl(String);

impl HttpUrl {
    pub fn parse(field: &str, s: &str) -> Result<Self, ValidationError> {
        let s = s.trim();
        let err = |r: &str| ValidationError::new(field, r);
        if s.len() > 512 {
            return Err(err("must be at most 512 characters"));
        }
        let rest = s
            .strip_prefix("https://")
            .or_else(|| s.strip_prefix("http://"))
            .ok_or_else(|| err("must be an absolute http:// or https:// URL"))?;
        let authority = rest.split(['/', '?']).next().unwrap_or("");
        if authority.is_empty() {
            return Err(err("must name a host"));
        }
        if authority.contains('@') {
            return Err(err("must not contain user credentials"));
        }
        if s.contains('#') {
            return Err(err("must not contain a fragment"));
        }
        if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(err("must not contain spaces or control characters"));
        }
        Ok(Self(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn text(field: &str, value: &str, max: usize) -> Result<String, ValidationError> {
    let v = value.trim();
    if v.is_empty() {
        return Err(ValidationError::new(field, "must not be empty"));
    }
    if v.chars().count() > max {
        return Err(ValidationError::new(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    if v.chars().any(char::is_control) && field != "intended_use" {
        return Err(ValidationError::new(
            field,
            "must not contain control characters",
        ));
    }
    Ok(v.to_string())
}

/// The application form as submitted (before validation): what faces build from their wire
/// types. Every field is text so that each can be reported by name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApplicationInput {
    pub company_name: String,
    pub unified_social_credit_code: String,
    pub legal_representative: String,
    pub contact_name: String,
    pub mobile: String,
    pub email: String,
    pub website: Option<String>,
    pub intended_use: String,
    pub expected_monthly_volume: u64,
    pub callback_base_url: String,
}

/// A validated application form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApplicationForm {
    pub company_name: String,
    pub unified_social_credit_code: UnifiedSocialCreditCode,
    pub legal_representative: String,
    pub contact_name: String,
    pub mobile: MobilePhone,
    pub email: Email,
    pub website: Option<HttpUrl>,
    pub intended_use: String,
    /// Charging sessions per month the partner expects to start through us.
    pub expected_monthly_volume: u64,
    pub callback_base_url: HttpUrl,
}

impl ApplicationForm {
    /// The largest monthly volume we accept: far above any platform today, low enough to catch
    /// a unit mistake.
    pub const MAX_MONTHLY_VOLUME: u64 = 100_000_000;

    /// Validates every field; the first invalid one is reported by name.
    pub fn validate(input: &ApplicationInput) -> Result<Self, ValidationError> {
        Ok(Self {
            company_name: text("company_name", &input.company_name, 100)?,
            unified_social_credit_code: UnifiedSocialCreditCode::parse(
                &input.unified_social_credit_code,
            )?,
            legal_representative: text("legal_representative", &input.legal_representative, 50)?,
            contact_name: text("contact_name", &input.contact_name, 50)?,
            mobile: MobilePhone::parse(&input.mobile)?,
            email: Email::parse(&input.email)?,
            website: input
                .website
                .as_deref()
                .filter(|w| !w.trim().is_empty())
                .map(|w| HttpUrl::parse("website", w))
                .transpose()?,
            intended_use: text("intended_use", &input.intended_use, 2000)?,
            expected_monthly_volume: if input.expected_monthly_volume > Self::MAX_MONTHLY_VOLUME {
                return Err(ValidationError::new(
                    "expected_monthly_volume",
                    format!("must be at most {}", Self::MAX_MONTHLY_VOLUME),
                ));
            } else {
                input.expected_monthly_volume
            },
            callback_base_url: HttpUrl::parse("callback_base_url", &input.callback_base_url)?,
        })
    }

    /// The form as plain text again; `validate` of the result gives back the same form (stores
    /// keep this and re-validate on the way out).
    pub fn to_input(&self) -> ApplicationInput {
        ApplicationInput {
            company_name: self.company_name.clone(),
            unified_social_credit_code: self.unified_social_credit_code.to_string(),
            legal_representative: self.legal_representative.clone(),
            contact_name: self.contact_name.clone(),
            mobile: self.mobile.as_str().to_string(),
            email: self.email.as_str().to_string(),
            website: self.website.as_ref().map(|w| w.as_str().to_string()),
            intended_use: self.intended_use.clone(),
            expected_monthly_volume: self.expected_monthly_volume,
            callback_base_url: self.callback_base_url.as_str().to_string(),
        }
    }
}

/// Where an application stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApplicationStatus {
    /// Waiting for review (after the first submission or a resubmission).
    Pending,
    Approved,
    /// Rejected with a reason; the applicant may correct and resubmit.
    Rejected,
}

impl ApplicationStatus {
    pub const ALL: [ApplicationStatus; 3] = [Self::Pending, Self::Approved, Self::Rejected];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Approved => "approved",
            Self::Rejected => "rejected",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }

    /// The applicant may submit a new revision while the application is pending (a correction
    /// before review) or after a rejection; an approved application is closed.
    pub fn resubmit(self) -> Result<Self, TransitionError> {
        match self {
            Self::Pending | Self::Rejected => Ok(Self::Pending),
            Self::Approved => Err(self.transition_error("resubmit")),
        }
    }

    /// Only a pending application can be decided.
    pub fn decide(self, outcome: DecisionOutcome) -> Result<Self, TransitionError> {
        match (self, outcome) {
            (Self::Pending, DecisionOutcome::Approved) => Ok(Self::Approved),
            (Self::Pending, DecisionOutcome::Rejected) => Ok(Self::Rejected),
            (_, DecisionOutcome::Approved) => Err(self.transition_error("approve")),
            (_, DecisionOutcome::Rejected) => Err(self.transition_error("reject")),
        }
    }

    fn transition_error(self, event: &'static str) -> TransitionError {
        TransitionError {
            entity: "application",
            from: self.as_str(),
            event,
        }
    }
}

impl fmt::Display for ApplicationStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a reviewer decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DecisionOutcome {
    Approved,
    Rejected,
}

impl DecisionOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Approved => "approved",
            Self::Rejected => "rejected",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Approved, Self::Rejected]
            .into_iter()
            .find(|v| v.as_str() == s)
    }
}

/// A rejection reason: required, shown to the applicant as written.
pub fn validate_reason(reason: &str) -> Result<String, ValidationError> {
    let r = reason.trim();
    if r.is_empty() {
        return Err(ValidationError::new("reason", "is required"));
    }
    if r.chars().count() > 2000 {
        return Err(ValidationError::new(
            "reason",
            "must be at most 2000 characters",
        ));
    }
    Ok(r.to_string())
}

/// One submitted version of the form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApplicationRevision {
    /// 1 for the first submission, then 2, 3, …
    pub number: u32,
    pub form: ApplicationForm,
    pub submitted_at: DateTime<Utc>,
}

/// One review decision, on the revision the reviewer saw.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApplicationDecision {
    pub id: String,
    pub revision: u32,
    pub outcome: DecisionOutcome,
    /// Required for rejections, shown to the applicant.
    pub reason: Option<String>,
    /// The operator account that decided.
    pub decided_by: String,
    pub decided_at: DateTime<Utc>,
    /// The contract an approval set.
    pub contract: Option<Contract>,
}

/// An application with its whole history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Application {
    pub id: String,
    /// The partner account created with the application (sandbox access from the start).
    pub partner_id: PartnerId,
    pub status: ApplicationStatus,
    /// The latest revision's number.
    pub revision: u32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Oldest first; the last is the current form.
    pub revisions: Vec<ApplicationRevision>,
    /// Oldest first.
    pub decisions: Vec<ApplicationDecision>,
}

impl Application {
    /// The form as last submitted.
    pub fn current(&self) -> Option<&ApplicationRevision> {
        self.revisions.last()
    }

    /// The latest decision, when there is one.
    pub fn last_decision(&self) -> Option<&ApplicationDecision> {
        self.decisions.last()
    }

    /// The reason of the rejection the application is in, when it is rejected.
    pub fn rejection_reason(&self) -> Option<&str> {
        if self.status != ApplicationStatus::Rejected {
            return None;
        }
        self.last_decision().and_then(|d| d.reason.as_deref())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn input() -> ApplicationInput {
        ApplicationInput {
            company_name: "深圳市腾讯计算机系统有限公司".into(),
            unified_social_credit_code: "91440300708461136T".into(),
            legal_representative: "马化腾".into(),
            contact_name: "张三".into(),
            mobile: "+86 138 0013 8000".into(),
            email: "Partner@Example.com".into(),
            website: Some("https://example.com".into()),
            intended_use: "在我们的出行 App 中展示充电站并为用户启动充电。".into(),
            expected_monthly_volume: 50_000,
            callback_base_url: "https://partner.example.com/openpile".into(),
        }
    }

    #[test]
    fn a_complete_form_validates_and_normalises() {
        let f = ApplicationForm::validate(&input()).unwrap();
        assert_eq!(f.mobile.as_str(), "13800138000");
        assert_eq!(f.email.as_str(), "partner@example.com");
        assert_eq!(f.unified_social_credit_code.as_str(), "91440300708461136T");
    }

    #[test]
    fn a_form_round_trips_through_its_input() {
        let f = ApplicationForm::validate(&input()).unwrap();
        assert_eq!(ApplicationForm::validate(&f.to_input()).unwrap(), f);
    }

    #[test]
    fn every_invalid_field_is_named() {
        type Mutation = fn(&mut ApplicationInput);
        let cases: Vec<(Mutation, &str)> = vec![
            (|i| i.company_name = " ".into(), "company_name"),
            (
                |i| i.unified_social_credit_code = "91440300708461136X".into(),
                "unified_social_credit_code",
            ),
            (
                |i| i.legal_representative = String::new(),
                "legal_representative",
            ),
            (|i| i.contact_name = "x".repeat(51), "contact_name"),
            (|i| i.mobile = "12800138000".into(), "mobile"),
            (|i| i.email = "not-an-email".into(), "email"),
            (|i| i.website = Some("ftp://x.com".into()), "website"),
            (|i| i.intended_use = String::new(), "intended_use"),
            (
                |i| i.expected_monthly_volume = u64::MAX,
                "expected_monthly_volume",
            ),
            (
                |i| i.callback_base_url = "https://user:pw@x.com".into(),
                "callback_base_url",
            ),
            (
                |i| i.callback_base_url = "/relative".into(),
                "callback_base_url",
            ),
        ];
        for (mutate, field) in cases {
            let mut i = input();
            mutate(&mut i);
            assert_eq!(ApplicationForm::validate(&i).unwrap_err().field, field);
        }
    }

    #[test]
    fn mainland_mobiles_are_recognised() {
        for ok in [
            "13800138000",
            "+8613800138000",
            "0086 199-0000-1111",
            "8617612345678",
            "16612345678",
        ] {
            assert!(MobilePhone::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "1380013800",
            "138001380001",
            "12800138000",
            "021-62345678",
            "+852 91234567",
            "1380013800a",
            "",
        ] {
            assert!(MobilePhone::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn application_lifecycle_table() {
        use ApplicationStatus as S;
        use DecisionOutcome as D;
        assert_eq!(S::Pending.decide(D::Approved), Ok(S::Approved));
        assert_eq!(S::Pending.decide(D::Rejected), Ok(S::Rejected));
        assert!(S::Rejected.decide(D::Approved).is_err());
        assert!(S::Approved.decide(D::Rejected).is_err());
        assert_eq!(S::Rejected.resubmit(), Ok(S::Pending));
        assert_eq!(S::Pending.resubmit(), Ok(S::Pending));
        let e = S::Approved.resubmit().unwrap_err();
        assert_eq!((e.from, e.event), ("approved", "resubmit"));
    }

    #[test]
    fn rejection_reasons_are_required() {
        assert_eq!(validate_reason("  ").unwrap_err().field, "reason");
        assert_eq!(validate_reason(" 资料不全 ").unwrap(), "资料不全");
    }
}
