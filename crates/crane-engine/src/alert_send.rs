//! Sending the built-in evaluator's alerts to an Alertmanager (the `alertmanager_url` setting), as Prometheus does:
//! after every evaluation round the alerts that are due ([`crane_core::alerts::notify`]) are posted to
//! `<alertmanager_url>/api/v2/alerts`, on a task of their own so a slow Alertmanager never delays evaluation.
//! Bounded: one request in flight (a round that finds one still running sends its alerts next round), 5 s per
//! request, at most 1,000 alerts per request. Failing to send, and sending again after failures, are `alert.sent`
//! events (not every send: a firing alert is sent again every minute).
//!
//! **Architecture Invariant:** sending never changes what Crane decides: actions come from the evaluator's
//! transitions (or the webhook), not from what an Alertmanager was told.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use crane_api::EventKind;
use crane_core::alerts::notify::{needs_sending, postable, Postable, MAX_ALERTS_PER_POST};
use crane_core::alerts::Alert;
use crane_core::model::Millis;
use serde_json::json;

use crate::clock::LockExt;
use crate::views::rfc3339;
use crate::{run, Inner};

/// How long one request to the Alertmanager may take.
const SEND_TIMEOUT: Duration = Duration::from_secs(5);

/// What the sender remembers.
#[derive(Default)]
pub(crate) struct Sender {
    /// When each alert (by fingerprint) was last sent.
    last_sent: Mutex<BTreeMap<u64, Millis>>,
    /// A request is under way.
    busy: AtomicBool,
    /// The last request's outcome (`None`: nothing sent yet), so only changes are events.
    outcome: Mutex<Option<Result<(), String>>>,
}

fn client() -> &'static reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT.get_or_init(|| {
        reqwest::Client::builder()
            .timeout(SEND_TIMEOUT)
            .connect_timeout(SEND_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default()
    })
}

/// Picks the alerts due at `now` among `alerts` (every alert the rules hold), marks them sent, and forgets alerts
/// that are gone. Pure bookkeeping over the sender's memory.
fn pick(sender: &Sender, alerts: &[Alert], now: Millis, interval: Millis, generator: &str) -> Vec<Postable> {
    let mut last_sent = sender.last_sent.locked();
    last_sent.retain(|fp, _| alerts.iter().any(|a| a.fingerprint == *fp));
    let mut out = Vec::new();
    for alert in alerts {
        if !needs_sending(alert, last_sent.get(&alert.fingerprint).copied(), now) {
            continue;
        }
        if let Some(p) = postable(alert, now, interval, generator, rfc3339) {
            last_sent.insert(alert.fingerprint, now);
            out.push(p);
        }
    }
    out
}

/// Sends what is due after a round (nothing when no `alertmanager_url` is set or a request is still under way).
pub(crate) fn after_round(inner: &Arc<Inner>, alerts: Vec<Alert>, now: Millis, interval: Duration) {
    let Some(url) = inner.remote.locked().alertmanager_url.clone() else { return };
    let sender = &inner.alerting.sender;
    if sender.busy.swap(true, Ordering::AcqRel) {
        return;
    }
    let api = inner.api_url.locked().clone();
    let generator = if api.is_empty() { "crane://alerts".to_string() } else { format!("{api}/api/v1/alerts/active") };
    let due = pick(sender, &alerts, now, interval.as_millis() as Millis, &generator);
    if due.is_empty() {
        sender.busy.store(false, Ordering::Release);
        return;
    }
    let inner = inner.clone();
    tokio::spawn(async move {
        let count = due.len();
        let result = post(&url, &due).await;
        inner.alerting.sender.busy.store(false, Ordering::Release);
        note(&inner, &url, count, result).await;
    });
}

/// Posts the alerts, in batches.
async fn post(base: &str, alerts: &[Postable]) -> Result<(), String> {
    let url = format!("{base}/api/v2/alerts");
    for batch in alerts.chunks(MAX_ALERTS_PER_POST) {
        let response = client().post(&url).json(batch).send().await.map_err(|e| {
            let text = e.to_string();
            text.split(" for url (").next().unwrap_or(&text).to_string()
        })?;
        let status = response.status();
        if !status.is_success() {
            let body = response.text().await.unwrap_or_default();
            let body: String = body.chars().take(300).collect();
            return Err(format!("it answered {status}: {}", body.trim()));
        }
    }
    Ok(())
}

/// Records a change of outcome as an `alert.sent` event.
async fn note(inner: &Inner, url: &str, count: usize, result: Result<(), String>) {
    let previous = inner.alerting.sender.outcome.locked().replace(result.clone());
    let reason = match (&previous, &result) {
        (None, Ok(())) => format!("sent {count} alert(s) to the Alertmanager at {url}; it receives Crane's alerts"),
        (Some(Err(_)), Ok(())) => {
            format!("the Alertmanager at {url} receives Crane's alerts again ({count} alert(s) sent)")
        }
        (Some(Err(old)), Err(new)) if old == new => return,
        (_, Err(e)) => format!(
            "could not send {count} alert(s) to the Alertmanager at {url}: {e}; they are sent again at the next \
             round that has them due (check alertmanager_url with `cranectl settings`)"
        ),
        (Some(Ok(())), Ok(())) => return,
    };
    let details = json!({"ok": result.is_ok(), "url": url, "alerts": count, "error": result.err()});
    run::record(inner, None, None, EventKind::AlertSent, reason, details).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crane_core::alerts::AlertState;

    fn alert(fp: u64, state: AlertState, fired: Option<Millis>) -> Alert {
        Alert {
            labels: BTreeMap::from([("alertname".to_string(), format!("A{fp}"))]),
            annotations: BTreeMap::new(),
            fingerprint: fp,
            state,
            value: 1.0,
            active_at: 0,
            fired_at: fired,
            resolved_at: None,
            keep_firing_since: None,
        }
    }

    #[test]
    fn each_alert_is_sent_when_due_and_forgotten_when_gone() {
        let sender = Sender::default();
        let firing = alert(1, AlertState::Firing, Some(1_000));
        let pending = alert(2, AlertState::Pending, None);
        let names = |p: &[Postable]| p.iter().map(|p| p.labels["alertname"].clone()).collect::<Vec<_>>();
        let sent = pick(&sender, &[firing.clone(), pending.clone()], 2_000, 15_000, "g");
        assert_eq!(names(&sent), ["A1"]);
        assert_eq!(sent[0].generator_url, "g");
        assert!(
            pick(&sender, std::slice::from_ref(&firing), 30_000, 15_000, "g").is_empty(),
            "not again within a minute"
        );
        assert_eq!(names(&pick(&sender, std::slice::from_ref(&firing), 62_000, 15_000, "g")), ["A1"]);
        // Resolved: sent at once, with its resolve time.
        let mut resolved = firing.clone();
        resolved.state = AlertState::Inactive;
        resolved.resolved_at = Some(70_000);
        let sent = pick(&sender, &[resolved], 70_000, 15_000, "g");
        assert_eq!(sent[0].ends_at, rfc3339(70_000));
        // Gone from the rules: forgotten, so a new alert with the same labels is sent at once.
        assert!(pick(&sender, &[], 80_000, 15_000, "g").is_empty());
        assert_eq!(names(&pick(&sender, &[firing], 81_000, 15_000, "g")), ["A1"]);
    }
}
