//! An OPA server as the decider of a policy (`opa_url` + `opa_policies`): the same input document as the embedded
//! Rego, sent over OPA's REST Data API (`POST <opa_url>/v1/data/crane/<policy>` with `{"input": …}`), and the same
//! rules read from its `result`. Bounded: 2 s per decision, 1 MiB per answer.
//!
//! **Architecture Invariant:** every failure (unreachable, timeout, an error status, no `result`, a body that is not
//! JSON) is a [`PolicyError`], so the callers' rules hold unchanged: admission fails closed, scaling and alert
//! actions hold.

use std::sync::OnceLock;
use std::time::Duration;

use crane_core::policy::{PolicyError, PolicyName};
use serde_json::{Map, Value};

/// How long one decision may take, connection included.
pub(crate) const OPA_TIMEOUT: Duration = Duration::from_secs(2);
/// The largest answer read.
const MAX_ANSWER_BYTES: usize = 1024 * 1024;

fn client() -> &'static reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT.get_or_init(|| {
        reqwest::Client::builder()
            .timeout(OPA_TIMEOUT)
            .connect_timeout(OPA_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default()
    })
}

/// The URL of a policy's document on an OPA server.
pub(crate) fn data_url(base: &str, name: PolicyName) -> String {
    format!("{}/v1/data/{}", base.trim_end_matches('/'), name.package().replace('.', "/"))
}

/// Asks the OPA server at `base` for the policy's rules on `input`: `{rule: value}` with the rules Crane reads
/// ([`PolicyName::rules`]), as the embedded adapter answers.
pub(crate) async fn decide(base: &str, name: PolicyName, input: &Value) -> Result<Value, PolicyError> {
    let url = data_url(base, name);
    let unreachable = |why: String| {
        PolicyError::Evaluation(format!("the OPA server at {base} could not be asked ({why}); check that it runs"))
    };
    let body = serde_json::json!({ "input": input });
    let mut response =
        client().post(&url).json(&body).send().await.map_err(|e| unreachable(without_url(&e.to_string())))?;
    let status = response.status();
    let mut bytes = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| unreachable(without_url(&e.to_string())))? {
        if bytes.len() + chunk.len() > MAX_ANSWER_BYTES {
            return Err(PolicyError::Output(format!(
                "the OPA server at {base} answered more than {} KiB for {url}; a decision is a few messages",
                MAX_ANSWER_BYTES / 1024
            )));
        }
        bytes.extend_from_slice(&chunk);
    }
    read_answer(base, name, status.as_u16(), &bytes)
}

/// reqwest's error text names the URL, which the caller already says.
fn without_url(text: &str) -> String {
    text.split(" for url (").next().unwrap_or(text).to_string()
}

/// Reads OPA's answer to a data query.
pub(crate) fn read_answer(base: &str, name: PolicyName, status: u16, body: &[u8]) -> Result<Value, PolicyError> {
    let shown = || String::from_utf8_lossy(&body[..body.len().min(300)]).trim().to_string();
    if status != 200 {
        return Err(PolicyError::Evaluation(format!(
            "the OPA server at {base} answered {status} for data.{}: {}",
            name.package(),
            shown()
        )));
    }
    let answer: Value = serde_json::from_slice(body).map_err(|e| {
        PolicyError::Output(format!("the OPA server at {base} answered something that is not JSON ({e}): {}", shown()))
    })?;
    let Some(result) = answer.get("result") else {
        return Err(PolicyError::Output(format!(
            "the OPA server at {base} has no document data.{pkg}: load the policy into it (e.g. `opa run --server \
             policies/{file}.rego`) or take {name} out of opa_policies",
            pkg = name.package(),
            file = name.as_str(),
        )));
    };
    let Some(object) = result.as_object() else {
        return Err(PolicyError::Output(format!(
            "the OPA server at {base} answered data.{} = {result}, not an object with the rules {}",
            name.package(),
            name.rules().join(", ")
        )));
    };
    let picked: Map<String, Value> = object
        .iter()
        .filter(|(k, _)| name.rules().contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    Ok(Value::Object(picked))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_read_or_refused_with_the_reason() {
        let base = "http://127.0.0.1:8181";
        assert_eq!(data_url("http://o:8181/", PolicyName::Admission), "http://o:8181/v1/data/crane/admission");
        let ok = read_answer(base, PolicyName::Admission, 200, br#"{"result": {"deny": ["no"], "warn": [], "x": 1}}"#);
        assert_eq!(ok.unwrap(), serde_json::json!({"deny": ["no"], "warn": []}));
        let cases: [(u16, &[u8], &str); 5] = [
            (200, b"{}", "has no document data.crane.admission"),
            (200, b"{\"result\": 3}", "not an object with the rules deny, warn"),
            (200, b"<html>", "not JSON"),
            (500, b"{\"code\": \"internal_error\"}", "answered 500 for data.crane.admission: {\"code\""),
            (404, b"", "answered 404"),
        ];
        for (status, body, says) in cases {
            let err = read_answer(base, PolicyName::Admission, status, body).unwrap_err().to_string();
            assert!(err.contains(says) && err.contains(base), "{status}: {err}");
        }
    }

    #[tokio::test]
    async fn an_unreachable_server_is_an_error_not_a_hang() {
        // A port nobody listens on (bound, then dropped).
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let base = format!("http://127.0.0.1:{port}");
        let err = decide(&base, PolicyName::Scaling, &serde_json::json!({})).await.unwrap_err().to_string();
        assert!(err.contains("could not be asked") && err.contains(&base), "{err}");
    }
}
