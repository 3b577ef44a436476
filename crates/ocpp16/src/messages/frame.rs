//! The OCPP-J RPC frame (OCPP-J 1.6 §4): `[2,id,action,payload]`, `[3,id,payload]`,
//! `[4,id,code,description,details]`, parsed strictly. A defect in a CALL yields the CALLERROR
//! to answer; a defect in a reply is reported without an answer (a CALLRESULT is never
//! answered); unknown message type numbers are ignored (§4.1.3); a frame whose id cannot be
//! found is dropped (nothing can be answered to it).

use std::fmt;

use serde_json::{Map, Value};

use super::{Action, SECURITY_EXTENSION_ACTIONS};

/// CALLERROR codes, spelled as OCPP-J 1.6 Table 7 prints them (`FormationViolation`,
/// `OccurenceConstraintViolation` with one "r": errata "will not be fixed").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    NotImplemented,
    NotSupported,
    InternalError,
    ProtocolError,
    SecurityError,
    FormationViolation,
    PropertyConstraintViolation,
    OccurenceConstraintViolation,
    TypeConstraintViolation,
    GenericError,
}

impl ErrorCode {
    pub const ALL: [ErrorCode; 10] = [
        Self::NotImplemented,
        Self::NotSupported,
        Self::InternalError,
        Self::ProtocolError,
        Self::SecurityError,
        Self::FormationViolation,
        Self::PropertyConstraintViolation,
        Self::OccurenceConstraintViolation,
        Self::TypeConstraintViolation,
        Self::GenericError,
    ];

    /// The 1.6 spelling we send.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotImplemented => "NotImplemented",
            Self::NotSupported => "NotSupported",
            Self::InternalError => "InternalError",
            Self::ProtocolError => "ProtocolError",
            Self::SecurityError => "SecurityError",
            Self::FormationViolation => "FormationViolation",
            Self::PropertyConstraintViolation => "PropertyConstraintViolation",
            Self::OccurenceConstraintViolation => "OccurenceConstraintViolation",
            Self::TypeConstraintViolation => "TypeConstraintViolation",
            Self::GenericError => "GenericError",
        }
    }

    /// Reads a received code: the 1.6 spellings, the 2.0.1 ones (`FormatViolation`,
    /// `OccurrenceConstraintViolation`, which many peers send), anything else as GenericError.
    pub fn parse_lenient(s: &str) -> Self {
        match s {
            "FormatViolation" => Self::FormationViolation,
            "OccurrenceConstraintViolation" => Self::OccurenceConstraintViolation,
            _ => Self::ALL
                .into_iter()
                .find(|c| c.as_str() == s)
                .unwrap_or(Self::GenericError),
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A message id: at most 36 characters (OCPP-J §4.1.4, "to allow for GUIDs").
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MessageId(String);

impl MessageId {
    pub const MAX_LEN: usize = 36;

    pub fn new(s: impl Into<String>) -> Result<Self, FrameError> {
        let s = s.into();
        if s.is_empty() || s.chars().count() > Self::MAX_LEN {
            return Err(FrameError::Rejected {
                description: format!("message id must be 1 to {} characters long", Self::MAX_LEN),
                id: s,
                code: ErrorCode::FormationViolation,
            });
        }
        Ok(Self(s))
    }

    /// A fresh UUIDv4, the id we use for our CALLs.
    pub fn random() -> Self {
        Self(uuid::Uuid::new_v4().to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One RPC frame.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    Call {
        id: MessageId,
        action: Action,
        /// Always a JSON object.
        payload: Value,
    },
    CallResult {
        id: MessageId,
        /// Always a JSON object.
        payload: Value,
    },
    CallError {
        id: MessageId,
        code: ErrorCode,
        description: String,
        details: Value,
    },
}

/// Why a text frame is not a usable [`Frame`], and what to do about it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FrameError {
    /// A message type other than 2, 3, 4: ignore it (OCPP-J §4.1.3).
    #[error("unknown message type {0}: ignored")]
    UnknownMessageType(String),
    /// No id could be extracted: nothing can be answered, log and drop.
    #[error("unanswerable frame: {0}")]
    Unanswerable(String),
    /// A defective CALL: answer `[4, id, code, description, {}]`. `id` is echoed as received,
    /// even when it is itself the defect (too long).
    #[error("{code}: {description}")]
    Rejected {
        id: String,
        code: ErrorCode,
        description: String,
    },
    /// A defective CALLRESULT or CALLERROR for message `id`: never answered, but the call it
    /// belongs to can be failed.
    #[error("malformed reply to {id}: {description}")]
    BadReply { id: String, description: String },
}

impl Frame {
    /// Parses a text frame strictly.
    pub fn parse(text: &str) -> Result<Frame, FrameError> {
        let value: Value = match serde_json::from_str(text) {
            Ok(v) => v,
            Err(e) => return Err(not_json(text, &e)),
        };
        let Value::Array(items) = value else {
            return Err(FrameError::Unanswerable("frame is not a JSON array".into()));
        };
        let Some(first) = items.first() else {
            return Err(FrameError::Unanswerable("frame is an empty array".into()));
        };
        let raw_id = items.get(1).and_then(Value::as_str);
        let Some(message_type) = first.as_u64() else {
            if first.is_number() {
                return Err(FrameError::UnknownMessageType(first.to_string()));
            }
            return Err(match raw_id {
                Some(id) => FrameError::Rejected {
                    id: id.to_owned(),
                    code: ErrorCode::FormationViolation,
                    description: "message type must be a number".into(),
                },
                None => FrameError::Unanswerable("message type is not a number".into()),
            });
        };
        match message_type {
            2 => parse_call(items),
            3 | 4 => parse_reply(message_type, items),
            other => Err(FrameError::UnknownMessageType(other.to_string())),
        }
    }

    pub fn id(&self) -> &MessageId {
        match self {
            Frame::Call { id, .. } | Frame::CallResult { id, .. } | Frame::CallError { id, .. } => {
                id
            }
        }
    }

    /// The text frame.
    pub fn to_text(&self) -> String {
        match self {
            Frame::Call {
                id,
                action,
                payload,
            } => encode(&(2, id.as_str(), action.as_str(), payload)),
            Frame::CallResult { id, payload } => encode(&(3, id.as_str(), payload)),
            Frame::CallError {
                id,
                code,
                description,
                details,
            } => encode(&(4, id.as_str(), code.as_str(), description, details)),
        }
    }

    /// A CALL carrying a typed request.
    pub fn call<R: super::OcppRequest>(id: MessageId, request: &R) -> Frame {
        Frame::Call {
            id,
            action: R::ACTION,
            payload: to_object(request),
        }
    }

    /// A CALLRESULT carrying a typed response.
    pub fn result<P: super::Payload>(id: MessageId, response: &P) -> Frame {
        Frame::CallResult {
            id,
            payload: to_object(response),
        }
    }
}

/// `[4, id, code, description, {}]` for any id, including one that is itself invalid.
/// Descriptions longer than 255 characters are cut: they may quote what the peer sent.
pub fn call_error_text(id: &str, code: ErrorCode, description: &str) -> String {
    let description = match description.char_indices().nth(255) {
        Some((cut, _)) => &description[..cut],
        None => description,
    };
    encode(&(4, id, code.as_str(), description, Map::new()))
}

fn encode<T: serde::Serialize>(frame: &T) -> String {
    // Serialising tuples of strings and Values cannot fail (no maps with non-string keys).
    serde_json::to_string(frame).unwrap_or_else(|_| String::from("[]"))
}

fn to_object<P: serde::Serialize>(payload: &P) -> Value {
    match serde_json::to_value(payload) {
        Ok(v @ Value::Object(_)) => v,
        // Our payload types are all structs; this arm is unreachable in practice.
        _ => Value::Object(Map::new()),
    }
}

fn parse_call(mut items: Vec<Value>) -> Result<Frame, FrameError> {
    let raw_id = match items.get(1) {
        Some(Value::String(s)) => s.clone(),
        _ => return Err(FrameError::Unanswerable("CALL without a string id".into())),
    };
    let reject = |code, description: &str| FrameError::Rejected {
        id: raw_id.clone(),
        code,
        description: description.to_owned(),
    };
    let id = MessageId::new(raw_id.clone())?;
    let action = match items.get(2) {
        Some(Value::String(a)) => a.clone(),
        Some(_) => {
            return Err(reject(
                ErrorCode::FormationViolation,
                "action must be a string",
            ));
        }
        None => {
            return Err(reject(
                ErrorCode::ProtocolError,
                "CALL has no action and payload",
            ));
        }
    };
    match items.len() {
        4 => {}
        3 => return Err(reject(ErrorCode::ProtocolError, "CALL has no payload")),
        _ => {
            return Err(reject(
                ErrorCode::FormationViolation,
                "CALL must have 4 elements",
            ));
        }
    }
    let Some(action) = Action::parse(&action) else {
        if SECURITY_EXTENSION_ACTIONS.contains(&action.as_str()) {
            return Err(reject(ErrorCode::NotSupported, "action not supported"));
        }
        return Err(FrameError::Rejected {
            description: format!("unknown action {action:?}"),
            id: raw_id,
            code: ErrorCode::NotImplemented,
        });
    };
    let payload = items.swap_remove(3);
    if !payload.is_object() {
        return Err(reject(
            ErrorCode::FormationViolation,
            "payload must be a JSON object",
        ));
    }
    Ok(Frame::Call {
        id,
        action,
        payload,
    })
}

fn parse_reply(message_type: u64, mut items: Vec<Value>) -> Result<Frame, FrameError> {
    let raw_id = match items.get(1) {
        Some(Value::String(s)) => s.clone(),
        _ => return Err(FrameError::Unanswerable("reply without a string id".into())),
    };
    let bad = |description: &str| FrameError::BadReply {
        id: raw_id.clone(),
        description: description.to_owned(),
    };
    let Ok(id) = MessageId::new(raw_id.clone()) else {
        return Err(bad("id is longer than 36 characters"));
    };
    if message_type == 3 {
        if items.len() != 3 {
            return Err(bad("CALLRESULT must have 3 elements"));
        }
        let payload = items.swap_remove(2);
        if !payload.is_object() {
            return Err(bad("CALLRESULT payload must be a JSON object"));
        }
        return Ok(Frame::CallResult { id, payload });
    }
    // CALLERROR: be liberal in what we accept from a peer that is already reporting an error.
    if !(3..=5).contains(&items.len()) {
        return Err(bad("CALLERROR must have 5 elements"));
    }
    let code = match items.get(2) {
        Some(Value::String(c)) => ErrorCode::parse_lenient(c),
        _ => return Err(bad("CALLERROR code must be a string")),
    };
    let description = match items.get(3) {
        Some(Value::String(d)) => d.clone(),
        None => String::new(),
        Some(other) => other.to_string(),
    };
    let details = items
        .get(4)
        .cloned()
        .unwrap_or_else(|| Value::Object(Map::new()));
    Ok(Frame::CallError {
        id,
        code,
        description,
        details,
    })
}

/// A frame that is not JSON. If it still starts like a CALL (`[2,"id"`), the id can be answered
/// with FormationViolation; otherwise it is dropped.
fn not_json(text: &str, err: &serde_json::Error) -> FrameError {
    match call_id_prefix(text) {
        Some(id) => FrameError::Rejected {
            id,
            code: ErrorCode::FormationViolation,
            description: format!("not valid JSON: {err}"),
        },
        None => FrameError::Unanswerable(format!("not valid JSON: {err}")),
    }
}

/// Extracts `id` from a text starting `[2,"id",` (whitespace allowed), with a plain id (no
/// escapes) of at most 36 characters.
fn call_id_prefix(text: &str) -> Option<String> {
    let rest = text.trim_start().strip_prefix('[')?.trim_start();
    let rest = rest.strip_prefix('2')?.trim_start();
    let rest = rest.strip_prefix(',')?.trim_start();
    let rest = rest.strip_prefix('"')?;
    let end = rest.find(['"', '\\'])?;
    let id = &rest[..end];
    if rest[end..].starts_with('\\') || id.is_empty() || id.chars().count() > MessageId::MAX_LEN {
        return None;
    }
    Some(id.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rejected(text: &str) -> (String, ErrorCode) {
        match Frame::parse(text) {
            Err(FrameError::Rejected { id, code, .. }) => (id, code),
            other => panic!("{text}: {other:?}"),
        }
    }

    #[test]
    fn a_call_parses_and_prints_back() {
        let text = r#"[2,"19223201","BootNotification",{"chargePointVendor":"VendorX","chargePointModel":"SingleSocketCharger"}]"#;
        let frame = Frame::parse(text).unwrap();
        assert!(matches!(
            &frame,
            Frame::Call {
                action: Action::BootNotification,
                ..
            }
        ));
        assert_eq!(frame.id().as_str(), "19223201");
        assert_eq!(Frame::parse(&frame.to_text()).unwrap(), frame);
    }

    #[test]
    fn replies_parse() {
        let r = Frame::parse(r#"[3,"a",{"status":"Accepted"}]"#).unwrap();
        assert_eq!(
            r,
            Frame::CallResult {
                id: MessageId::new("a").unwrap(),
                payload: json!({"status":"Accepted"})
            }
        );
        let e = Frame::parse(r#"[4,"a","OccurrenceConstraintViolation","x",{}]"#).unwrap();
        assert!(matches!(
            e,
            Frame::CallError {
                code: ErrorCode::OccurenceConstraintViolation,
                ..
            }
        ));
        let e = Frame::parse(r#"[4,"a","Weird","x",{}]"#).unwrap();
        assert!(matches!(
            e,
            Frame::CallError {
                code: ErrorCode::GenericError,
                ..
            }
        ));
    }

    #[test]
    fn call_defects_get_the_right_code() {
        use ErrorCode as E;
        let long = "x".repeat(37);
        assert_eq!(
            rejected(&format!(r#"[2,"{long}","Heartbeat",{{}}]"#)),
            (long, E::FormationViolation)
        );
        assert_eq!(rejected(r#"[2,"1","FooBar",{}]"#).1, E::NotImplemented);
        assert_eq!(
            rejected(r#"[2,"1","SignCertificate",{}]"#).1,
            E::NotSupported
        );
        assert_eq!(rejected(r#"[2,"1","Heartbeat"]"#).1, E::ProtocolError);
        assert_eq!(
            rejected(r#"[2,"1","Heartbeat",{},5]"#).1,
            E::FormationViolation
        );
        assert_eq!(
            rejected(r#"[2,"1","Heartbeat",[]]"#).1,
            E::FormationViolation
        );
        assert_eq!(rejected(r#"[2,"1",7,{}]"#).1, E::FormationViolation);
        assert_eq!(
            rejected(r#"[2,"",  "Heartbeat",{}]"#).1,
            E::FormationViolation
        );
        assert_eq!(
            rejected(r#"["2","1","Heartbeat",{}]"#).1,
            E::FormationViolation
        );
        assert_eq!(
            rejected(r#"[2, "abc", "Heartbeat", {"#),
            ("abc".into(), E::FormationViolation)
        );
    }

    #[test]
    fn unknown_types_are_ignored_and_idless_frames_dropped() {
        assert!(matches!(
            Frame::parse(r#"[7,"1",{}]"#),
            Err(FrameError::UnknownMessageType(_))
        ));
        assert!(matches!(
            Frame::parse(r#"[5,"1","x",{}]"#),
            Err(FrameError::UnknownMessageType(_))
        ));
        assert!(matches!(
            Frame::parse(r#"[2.5,"1","x",{}]"#),
            Err(FrameError::UnknownMessageType(_))
        ));
        for text in [
            "",
            "{}",
            "[]",
            "null",
            "[2]",
            "[2,5,\"Heartbeat\",{}]",
            "garbage",
            "[3]",
        ] {
            assert!(
                matches!(Frame::parse(text), Err(FrameError::Unanswerable(_))),
                "{text}"
            );
        }
        assert!(matches!(
            Frame::parse(r#"[3,"1",[]]"#),
            Err(FrameError::BadReply { .. })
        ));
    }

    #[test]
    fn call_errors_have_empty_details_object() {
        assert_eq!(
            call_error_text("1", ErrorCode::NotImplemented, "nope"),
            r#"[4,"1","NotImplemented","nope",{}]"#
        );
    }
}
