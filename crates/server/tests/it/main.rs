//! Integration tests of the `openpile` server: one binary, one module per area. Every test
//! runs its own server on 127.0.0.1:0 with its own SQLite file (`openpile_testkit::TestApp`),
//! or runs the built `openpile` binary with a temporary database.

// Test helpers outside `#[test]` functions panic on purpose too.
#![allow(clippy::unwrap_used)]

mod auth;
mod cli;
mod events;
mod guide;
mod network;
mod ocpp;
mod ocpp_interop;
mod ops;
mod reservations;
mod schemathesis;
mod sessions;
mod sessions_end;
mod settlement;
mod sim;

use openpile_testkit::TestApp;
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::Value;

/// A response, read whole.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    /// The JSON body, or the text as a JSON string when it is not JSON.
    pub body: Value,
}

impl Reply {
    pub fn content_type(&self) -> &str {
        self.headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// Asserts an RFC 9457 problem with this status and code; returns it.
    #[track_caller]
    pub fn problem(&self, status: u16, code: &str) -> &Value {
        assert_eq!(self.status.as_u16(), status, "{:#}", self.body);
        assert_eq!(self.content_type(), "application/problem+json");
        assert_eq!(self.body["code"], code, "{:#}", self.body);
        assert_eq!(self.body["status"], status);
        assert_eq!(
            self.body["type"],
            format!("urn:openpile:problem:{code}"),
            "{:#}",
            self.body
        );
        assert!(self.body["title"].is_string());
        assert!(self.body["request_id"].is_string(), "{:#}", self.body);
        &self.body
    }

    /// Asserts a 422 naming `field`.
    #[track_caller]
    pub fn invalid(&self, field: &str) {
        let p = self.problem(422, "validation_failed");
        assert_eq!(p["field"], field, "{p:#}");
    }
}

/// Sends `method path` with an optional bearer token and JSON body.
pub async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> Reply {
    let mut req = app.client.request(method, app.url(path));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.expect("request sent");
    let status = resp.status();
    let headers = resp.headers().clone();
    let text = resp.text().await.expect("body read");
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Reply {
        status,
        headers,
        body,
    }
}

pub async fn get(app: &TestApp, path: &str, token: &str) -> Reply {
    call(app, Method::GET, path, Some(token), None).await
}

pub async fn post(app: &TestApp, path: &str, token: &str, body: Value) -> Reply {
    call(app, Method::POST, path, Some(token), Some(body)).await
}

pub async fn put(app: &TestApp, path: &str, token: &str, body: Value) -> Reply {
    call(app, Method::PUT, path, Some(token), Some(body)).await
}
