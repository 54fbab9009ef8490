//! Sending alerts to an Alertmanager, as Prometheus does: which alerts a round sends, and what it says of them.
//!
//! Prometheus' rule manager sends an alert when it is firing and was not sent for the resend delay (1 minute), or
//! when it resolved after it was last sent (and again every resend delay while a resolved alert is kept, 15
//! minutes). A firing alert is sent with `endsAt` four resend delays (or evaluation intervals, if longer) ahead, so
//! an Alertmanager that stops hearing from Crane resolves it on its own; a resolved one with its resolve time.
//! Pending alerts are never sent. The body is Alertmanager's API v2 `postableAlerts`.

use serde::Serialize;

use super::eval::Labels;
use super::state::{Alert, AlertState};
use crate::model::Millis;

/// How long a sent alert is not sent again (Prometheus' `--rules.alert.resend-delay`).
pub const RESEND_DELAY_MS: Millis = 60_000;
/// The most alerts one request carries (the rest go in further requests).
pub const MAX_ALERTS_PER_POST: usize = 1000;

/// One alert as Alertmanager's API v2 takes it (`POST /api/v2/alerts`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Postable {
    /// The alert's labels (`alertname` included).
    pub labels: Labels,
    /// Its annotations.
    pub annotations: Labels,
    /// RFC 3339: when it started firing.
    pub starts_at: String,
    /// RFC 3339: when it resolved, or until when a firing alert counts as firing without news.
    pub ends_at: String,
    /// A link back to Crane.
    #[serde(rename = "generatorURL")]
    pub generator_url: String,
}

/// Whether an alert is due to be sent at `now`, given when it was last sent (Prometheus' `needsSending`).
pub fn needs_sending(alert: &Alert, last_sent: Option<Millis>, now: Millis) -> bool {
    if alert.fired_at.is_none() || alert.state == AlertState::Pending {
        return false;
    }
    let Some(last) = last_sent else { return true };
    if alert.resolved_at.is_some_and(|r| r > last) {
        return true;
    }
    last.saturating_add(RESEND_DELAY_MS) <= now
}

/// The alert as sent at `now` with an evaluation `interval`; `rfc3339` writes a time. `None` for an alert that
/// never fired.
pub fn postable(
    alert: &Alert,
    now: Millis,
    interval: Millis,
    generator_url: &str,
    rfc3339: impl Fn(Millis) -> String,
) -> Option<Postable> {
    let fired = alert.fired_at?;
    let valid_until = now.saturating_add(4 * interval.max(RESEND_DELAY_MS));
    let ends = match (alert.state, alert.resolved_at) {
        (AlertState::Inactive, Some(resolved)) => resolved,
        _ => valid_until,
    };
    Some(Postable {
        labels: alert.labels.clone(),
        annotations: alert.annotations.clone(),
        starts_at: rfc3339(fired),
        ends_at: rfc3339(ends),
        generator_url: generator_url.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn alert(state: AlertState, fired_at: Option<Millis>, resolved_at: Option<Millis>) -> Alert {
        let labels: Labels = BTreeMap::from([("alertname".to_string(), "High".to_string())]);
        Alert {
            labels,
            annotations: BTreeMap::new(),
            fingerprint: 1,
            state,
            value: 1.0,
            active_at: 0,
            fired_at,
            resolved_at,
            keep_firing_since: None,
        }
    }

    #[test]
    fn sends_like_prometheus() {
        let firing = alert(AlertState::Firing, Some(10_000), None);
        let pending = alert(AlertState::Pending, None, None);
        let resolved = alert(AlertState::Inactive, Some(10_000), Some(50_000));
        let never_fired = alert(AlertState::Inactive, None, Some(50_000));
        let cases = [
            ("firing, never sent", &firing, None, 20_000, true),
            ("firing, sent 30 s ago", &firing, Some(20_000), 50_000, false),
            ("firing, sent a minute ago", &firing, Some(20_000), 80_000, true),
            ("pending", &pending, None, 20_000, false),
            ("resolved after the last send", &resolved, Some(40_000), 55_000, true),
            ("resolved, sent resolved 10 s ago", &resolved, Some(55_000), 65_000, false),
            ("resolved, sent resolved a minute ago", &resolved, Some(55_000), 115_000, true),
            ("resolved without firing", &never_fired, None, 60_000, false),
        ];
        for (name, a, last, now, want) in cases {
            assert_eq!(needs_sending(a, last, now), want, "{name}");
        }
    }

    #[test]
    fn ends_at_says_firing_or_resolved() {
        let t = |ms: Millis| ms.to_string();
        let firing = postable(&alert(AlertState::Firing, Some(10_000), None), 20_000, 15_000, "u", t).unwrap();
        assert_eq!((firing.starts_at.as_str(), firing.ends_at.as_str()), ("10000", "260000"));
        let slow = postable(&alert(AlertState::Firing, Some(10_000), None), 20_000, 120_000, "u", t).unwrap();
        assert_eq!(slow.ends_at, "500000");
        let resolved =
            postable(&alert(AlertState::Inactive, Some(10_000), Some(50_000)), 60_000, 15_000, "u", t).unwrap();
        assert_eq!(resolved.ends_at, "50000");
        assert!(postable(&alert(AlertState::Pending, None, None), 1, 1, "u", t).is_none());
        let json = serde_json::to_value(&resolved).unwrap();
        assert_eq!(json["generatorURL"], "u");
        assert_eq!(json["labels"]["alertname"], "High");
        assert!(json.get("startsAt").is_some() && json.get("endsAt").is_some());
    }
}
