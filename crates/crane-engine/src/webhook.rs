//! Alertmanager's webhook: alerts a real Prometheus + Alertmanager send to Crane go the same way as the built-in
//! evaluator's — each alert's own status → the rule's action (from the annotations Crane's exported rules carry) or
//! the `alerts` policy → the engine acts (`alert_actions::act`). Alerts are deduplicated by fingerprint, start and
//! status, so Alertmanager's repeats (`repeat_interval`, retries) do not act twice.
//!
//! **Architecture Invariant:** a payload is bounded (the REST door's body limit, at most [`MAX_ALERTS`] alerts
//! handled, label and annotation sizes), and nothing in it reaches anything but the action chain.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Mutex;

use crane_api::{AlertmanagerPayload, EventKind, WebhookReceipt};
use crane_core::alerts::{AlertState, Transition};

/// The label that names an alert.
const ALERT_NAME: &str = "alertname";
use crane_core::policy::AlertAction;

use crate::alert_actions::RuleActions;
use crate::clock::LockExt;
use crate::{EngineError, EngineHandle, Result};

/// The most alerts one payload may carry; the rest are refused with the payload (400), nothing half-done.
pub const MAX_ALERTS: usize = 10_000;
/// How many (fingerprint, start, status) keys are remembered for deduplication.
const MAX_SEEN: usize = 50_000;
/// The longest label or annotation value read (longer ones are cut on a character boundary).
const MAX_VALUE_BYTES: usize = 1024;
/// Labels and annotations read per alert.
const MAX_PAIRS: usize = 64;

/// The alerts already handled, oldest first, bounded.
#[derive(Default)]
pub(crate) struct Seen {
    keys: Mutex<(BTreeSet<String>, VecDeque<String>)>,
}

impl Seen {
    /// Records `key`; `false` when it was there already.
    fn first_time(&self, key: String) -> bool {
        let mut guard = self.keys.locked();
        let (set, order) = &mut *guard;
        if !set.insert(key.clone()) {
            return false;
        }
        order.push_back(key);
        while order.len() > MAX_SEEN {
            if let Some(old) = order.pop_front() {
                set.remove(&old);
            }
        }
        true
    }
}

fn bounded(map: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    map.iter()
        .take(MAX_PAIRS)
        .map(|(k, v)| {
            (
                crane_core::text::truncate(k, MAX_VALUE_BYTES).to_string(),
                crane_core::text::truncate(v, MAX_VALUE_BYTES).to_string(),
            )
        })
        .collect()
}

fn action(annotations: &BTreeMap<String, String>, key: &str) -> Option<AlertAction> {
    annotations.get(key).and_then(|word| AlertAction::from_name(word.trim()))
}

impl EngineHandle {
    /// Handles an Alertmanager webhook payload (version 4): each alert by its own status. Unknown alert names and
    /// apps are recorded, not errors; a payload of another version or with more than [`MAX_ALERTS`] alerts is a
    /// `bad_request` naming the fix, and nothing of it is handled.
    pub async fn receive_alertmanager(&self, payload: &AlertmanagerPayload) -> Result<WebhookReceipt> {
        if payload.version != "4" {
            return Err(EngineError::BadRequest(format!(
                "Alertmanager webhook payload version {:?} is not supported; Crane reads version \"4\" (Alertmanager \
                 0.16 and later)",
                crane_core::text::truncate(&payload.version, 32)
            )));
        }
        if payload.alerts.len() > MAX_ALERTS {
            return Err(EngineError::BadRequest(format!(
                "the payload carries {} alerts; Crane handles at most {MAX_ALERTS} per request: set `max_alerts` in \
                 the receiver's webhook_config",
                payload.alerts.len()
            )));
        }
        for (i, alert) in payload.alerts.iter().enumerate() {
            if alert.status != "firing" && alert.status != "resolved" {
                return Err(EngineError::BadRequest(format!(
                    "alerts[{i}].status is {:?}; Alertmanager sends \"firing\" or \"resolved\"",
                    crane_core::text::truncate(&alert.status, 32)
                )));
            }
        }
        let mut receipt = WebhookReceipt {
            received: payload.alerts.len() as u32,
            handled: 0,
            duplicates: 0,
            truncated: payload.truncated_alerts,
        };
        if payload.truncated_alerts > 0 {
            crate::run::record(
                &self.inner,
                None,
                None,
                EventKind::AlertAction,
                format!(
                    "Alertmanager left {} alert(s) out of a webhook payload (max_alerts); Crane acts on the {} it sent",
                    payload.truncated_alerts,
                    payload.alerts.len()
                ),
                serde_json::json!({"source": "alertmanager", "truncatedAlerts": payload.truncated_alerts,
                                   "groupKey": crane_core::text::truncate(&payload.group_key, MAX_VALUE_BYTES)}),
            )
            .await;
        }
        let now = self.inner.now();
        for alert in &payload.alerts {
            let labels = bounded(&alert.labels);
            let annotations = bounded(&alert.annotations);
            let fingerprint = u64::from_str_radix(alert.fingerprint.trim(), 16)
                .unwrap_or_else(|_| crane_core::alerts::fingerprint(&labels));
            let key =
                format!("{fingerprint:016x}|{}|{}", crane_core::text::truncate(&alert.starts_at, 64), alert.status);
            if !self.inner.webhook_seen.first_time(key) {
                receipt.duplicates += 1;
                continue;
            }
            let firing = alert.status == "firing";
            let transition = Transition {
                rule: labels.get(ALERT_NAME).cloned().unwrap_or_else(|| "unnamed".to_string()),
                labels: labels.clone(),
                fingerprint,
                from: if firing { AlertState::Pending } else { AlertState::Firing },
                to: if firing { AlertState::Firing } else { AlertState::Inactive },
                value: f64::NAN,
                at: now,
                starts_at: None,
                annotations: annotations.clone(),
            };
            let rule = RuleActions {
                origin: "webhook",
                expr: "",
                firing_action: action(&annotations, crane_core::alerts::FIRING_ACTION_ANNOTATION),
                resolved_action: action(&annotations, crane_core::alerts::RESOLVED_ACTION_ANNOTATION),
                action_cooldown: annotations
                    .get(crane_core::alerts::ACTION_COOLDOWN_ANNOTATION)
                    .and_then(|d| crane_core::units::parse_prometheus_duration(d.trim()).ok())
                    .map(|d| d.as_millis()),
            };
            crate::alert_actions::act(&self.inner, rule, &transition).await;
            receipt.handled += 1;
        }
        Ok(receipt)
    }
}
