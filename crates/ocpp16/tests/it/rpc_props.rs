//! Property tests of the RPC layer: arbitrary bytes, arbitrary JSON and arbitrary frames fed to
//! the frame parser and the payload decoder never panic, and always give a frame or a typed
//! error; CALLs that parse print back to themselves.

use openpile_ocpp16::messages::Action;
use openpile_ocpp16::messages::core_profile::{
    BootNotificationRequest, MeterValuesRequest, StartTransactionRequest,
    StatusNotificationRequest, StopTransactionRequest,
};
use openpile_ocpp16::messages::decode::decode;
use openpile_ocpp16::messages::frame::{Frame, FrameError, MessageId};
use proptest::prelude::*;
use serde_json::{Map, Value, json};

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        ".{0,40}".prop_map(Value::String),
        prop::sample::select(vec![
            "Available",
            "NoError",
            "Heartbeat",
            "2026-03-01T08:00:00Z",
            "kWh",
            "x".repeat(60).leak(),
        ])
        .prop_map(|s: &str| json!(s)),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(
                prop::sample::select(vec![
                    "connectorId",
                    "errorCode",
                    "status",
                    "idTag",
                    "meterStart",
                    "timestamp",
                    "meterValue",
                    "sampledValue",
                    "value",
                    "unit",
                    "transactionId",
                    "meterStop",
                    "chargePointVendor",
                    "chargePointModel",
                    "extra",
                ]),
                inner,
                0..8
            )
            .prop_map(|m| Value::Object(
                m.into_iter()
                    .map(|(k, v)| (k.to_owned(), v))
                    .collect::<Map<_, _>>()
            )),
        ]
    })
}

fn frame_like() -> impl Strategy<Value = String> {
    let action = prop_oneof![
        prop::sample::select(Action::ALL.iter().map(|a| a.as_str()).collect::<Vec<_>>())
            .prop_map(str::to_owned),
        ".{0,12}",
    ];
    prop_oneof![
        (0u64..9, ".{0,40}", action.clone(), json_value())
            .prop_map(|(t, id, a, p)| json!([t, id, a, p]).to_string()),
        (0u64..9, ".{0,40}", json_value()).prop_map(|(t, id, p)| json!([t, id, p]).to_string()),
        (json_value(), json_value(), json_value())
            .prop_map(|(a, b, c)| json!([a, b, c]).to_string()),
        json_value().prop_map(|v| v.to_string()),
        (0u64..9, ".{0,40}", action, json_value()).prop_map(|(t, id, a, p)| {
            let s = json!([t, id, a, p]).to_string();
            let half = s.chars().count() / 2;
            s.chars().take(half).collect::<String>()
        }),
    ]
}

fn decode_all(payload: &Value) {
    // Never panics; every error carries a code.
    let _ = decode::<BootNotificationRequest>(payload).map_err(|e| e.code);
    let _ = decode::<StatusNotificationRequest>(payload).map_err(|e| e.code);
    let _ = decode::<StartTransactionRequest>(payload).map_err(|e| e.code);
    let _ = decode::<StopTransactionRequest>(payload).map_err(|e| e.code);
    let _ = decode::<MeterValuesRequest>(payload).map_err(|e| e.code);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_text_never_panics(text in ".{0,200}") {
        let _ = Frame::parse(&text);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let text = String::from_utf8_lossy(&bytes);
        let _ = Frame::parse(&text);
    }

    #[test]
    fn arbitrary_frames_give_a_frame_or_a_typed_error(text in frame_like()) {
        match Frame::parse(&text) {
            Ok(frame) => {
                prop_assert!(frame.id().as_str().chars().count() <= MessageId::MAX_LEN);
                // What parsed prints back to the same frame.
                prop_assert_eq!(&Frame::parse(&frame.to_text()).unwrap(), &frame);
                if let Frame::Call { payload, .. } = &frame {
                    prop_assert!(payload.is_object());
                    decode_all(payload);
                }
            }
            Err(FrameError::Rejected { code, .. }) => {
                prop_assert!(!code.as_str().is_empty());
            }
            Err(FrameError::UnknownMessageType(_) | FrameError::Unanswerable(_) | FrameError::BadReply { .. }) => {}
        }
    }

    #[test]
    fn arbitrary_payloads_decode_or_fail_with_a_code(payload in json_value()) {
        decode_all(&payload);
    }
}
