//! Strict payload decoding that knows which CALLERROR each defect deserves.
//!
//! serde_json's own errors only say "data error", and matching their text would be fragile, so
//! we deserialise the already-parsed `serde_json::Value` through a small deserializer of our own
//! whose error type records the kind of defect serde reports (missing field, unknown field,
//! wrong type, bad value). It also refuses `null` for optional fields, as the schemas do.
//! The mapping to codes follows OCPP-J 1.6 §4.2.3 Table 7 and the protocol reference §1.4.

use std::fmt;

use serde::de::value::{MapDeserializer, SeqDeserializer};
use serde::de::{self, IntoDeserializer, Unexpected, Visitor};
use serde_json::Value;

use super::Payload;
use super::frame::ErrorCode;

/// Why a payload does not satisfy its schema, with the CALLERROR code to answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayloadError {
    pub code: ErrorCode,
    pub message: String,
}

impl PayloadError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    /// An array under its `minItems`.
    pub fn too_few(field: &str) -> Self {
        Self::new(
            ErrorCode::OccurenceConstraintViolation,
            format!("{field} must have at least 1 item"),
        )
    }
}

impl fmt::Display for PayloadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.message)
    }
}

impl std::error::Error for PayloadError {}

impl de::Error for PayloadError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Self::new(ErrorCode::PropertyConstraintViolation, msg.to_string())
    }

    fn invalid_type(unexp: Unexpected<'_>, exp: &dyn de::Expected) -> Self {
        Self::new(
            ErrorCode::TypeConstraintViolation,
            format!("invalid type: {unexp}, expected {exp}"),
        )
    }

    fn invalid_value(unexp: Unexpected<'_>, exp: &dyn de::Expected) -> Self {
        Self::new(
            ErrorCode::PropertyConstraintViolation,
            format!("invalid value: {unexp}, expected {exp}"),
        )
    }

    fn invalid_length(len: usize, exp: &dyn de::Expected) -> Self {
        Self::new(
            ErrorCode::OccurenceConstraintViolation,
            format!("invalid length {len}, expected {exp}"),
        )
    }

    fn unknown_variant(variant: &str, expected: &'static [&'static str]) -> Self {
        Self::new(
            ErrorCode::PropertyConstraintViolation,
            format!("unknown value {variant:?}, expected one of {expected:?}"),
        )
    }

    fn unknown_field(field: &str, _expected: &'static [&'static str]) -> Self {
        // additionalProperties: false. The reference maps this to FormationViolation (§1.4).
        Self::new(
            ErrorCode::FormationViolation,
            format!("unknown field {field:?}"),
        )
    }

    fn missing_field(field: &'static str) -> Self {
        Self::new(
            ErrorCode::OccurenceConstraintViolation,
            format!("missing required field {field:?}"),
        )
    }

    fn duplicate_field(field: &'static str) -> Self {
        Self::new(
            ErrorCode::FormationViolation,
            format!("duplicate field {field:?}"),
        )
    }
}

/// Decodes and checks a payload.
pub fn decode<T: Payload>(payload: &Value) -> Result<T, PayloadError> {
    let value = T::deserialize(ValueDe(payload))?;
    value.check()?;
    Ok(value)
}

fn unexpected(v: &Value) -> Unexpected<'_> {
    match v {
        Value::Null => Unexpected::Unit,
        Value::Bool(b) => Unexpected::Bool(*b),
        Value::Number(n) => match (n.as_u64(), n.as_i64()) {
            (Some(u), _) => Unexpected::Unsigned(u),
            (None, Some(i)) => Unexpected::Signed(i),
            _ => Unexpected::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(s) => Unexpected::Str(s),
        Value::Array(_) => Unexpected::Seq,
        Value::Object(_) => Unexpected::Map,
    }
}

/// A deserializer over a borrowed `Value` reporting [`PayloadError`].
#[derive(Clone, Copy)]
struct ValueDe<'a>(&'a Value);

impl<'de> IntoDeserializer<'de, PayloadError> for ValueDe<'de> {
    type Deserializer = Self;
    fn into_deserializer(self) -> Self {
        self
    }
}

impl<'de> de::Deserializer<'de> for ValueDe<'de> {
    type Error = PayloadError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PayloadError> {
        match self.0 {
            Value::Null => visitor.visit_unit(),
            Value::Bool(b) => visitor.visit_bool(*b),
            Value::Number(n) => {
                if let Some(u) = n.as_u64() {
                    visitor.visit_u64(u)
                } else if let Some(i) = n.as_i64() {
                    visitor.visit_i64(i)
                } else {
                    visitor.visit_f64(n.as_f64().unwrap_or(f64::NAN))
                }
            }
            Value::String(s) => visitor.visit_borrowed_str(s),
            Value::Array(items) => {
                let mut seq = SeqDeserializer::new(items.iter().map(ValueDe));
                let out = visitor.visit_seq(&mut seq)?;
                seq.end()?;
                Ok(out)
            }
            Value::Object(map) => {
                let mut access =
                    MapDeserializer::new(map.iter().map(|(k, v)| (k.as_str(), ValueDe(v))));
                let out = visitor.visit_map(&mut access)?;
                access.end()?;
                Ok(out)
            }
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PayloadError> {
        // The schemas never allow null: an optional field is absent or has a value.
        if self.0.is_null() {
            return Err(de::Error::invalid_type(
                Unexpected::Unit,
                &"a value (null is not allowed)",
            ));
        }
        visitor.visit_some(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, PayloadError> {
        match self.0 {
            Value::String(s) => visitor.visit_enum(s.as_str().into_deserializer()),
            other => Err(de::Error::invalid_type(unexpected(other), &"a string")),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, PayloadError> {
        // serde lets structs be read from arrays too; the schemas want objects only.
        match self.0 {
            Value::Object(_) => self.deserialize_any(visitor),
            other => Err(de::Error::invalid_type(unexpected(other), &"an object")),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, PayloadError> {
        visitor.visit_newtype_struct(self)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        unit unit_struct seq tuple tuple_struct map identifier ignored_any
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messages::core_profile::{
        BootNotificationRequest, HeartbeatRequest, MeterValuesRequest, StatusNotificationRequest,
    };
    use serde_json::json;

    #[allow(clippy::needless_pass_by_value)]
    fn code<T: Payload>(v: Value) -> ErrorCode {
        decode::<T>(&v).unwrap_err().code
    }

    #[test]
    fn each_defect_gets_its_code() {
        use ErrorCode as E;
        type Boot = BootNotificationRequest;
        assert_eq!(
            code::<Boot>(json!({"chargePointVendor": "V"})),
            E::OccurenceConstraintViolation
        );
        assert_eq!(
            code::<Boot>(json!({"chargePointVendor": "V", "chargePointModel": 7})),
            E::TypeConstraintViolation
        );
        assert_eq!(
            code::<Boot>(json!({"chargePointVendor": "V", "chargePointModel": "x".repeat(21)})),
            E::PropertyConstraintViolation
        );
        assert_eq!(
            code::<Boot>(json!({"chargePointVendor": "V", "chargePointModel": "M", "extra": 1})),
            E::FormationViolation
        );
        assert_eq!(
            code::<Boot>(json!({"chargePointVendor": "V", "chargePointModel": "M", "iccid": null})),
            E::TypeConstraintViolation
        );
        assert_eq!(
            code::<HeartbeatRequest>(json!([])),
            E::TypeConstraintViolation
        );
        assert_eq!(
            code::<Boot>(json!(["Acme", "X1"])),
            E::TypeConstraintViolation
        );
        assert_eq!(
            code::<StatusNotificationRequest>(
                json!({"connectorId": 1, "errorCode": "NoError", "status": "Busy"})
            ),
            E::PropertyConstraintViolation
        );
        assert_eq!(
            code::<StatusNotificationRequest>(
                json!({"connectorId": 1.5, "errorCode": "NoError", "status": "Available"})
            ),
            E::TypeConstraintViolation
        );
        assert_eq!(
            code::<StatusNotificationRequest>(
                json!({"connectorId": 1, "errorCode": 3, "status": "Available"})
            ),
            E::TypeConstraintViolation
        );
        assert_eq!(
            code::<MeterValuesRequest>(json!({"connectorId": 1, "meterValue": []})),
            E::OccurenceConstraintViolation
        );
        assert_eq!(
            code::<MeterValuesRequest>(json!({"connectorId": 1, "meterValue": [
                {"timestamp": "2025-01-01T00:00:00Z", "sampledValue": [{"value": 5}]}]})),
            E::TypeConstraintViolation
        );
    }

    #[test]
    fn valid_payloads_decode() {
        let boot: BootNotificationRequest = decode(&json!({
            "chargePointVendor": "Acme", "chargePointModel": "X1", "firmwareVersion": "1.0"
        }))
        .unwrap();
        assert_eq!(boot.charge_point_vendor.as_str(), "Acme");
        let _: HeartbeatRequest = decode(&json!({})).unwrap();
    }
}
