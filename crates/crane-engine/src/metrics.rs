//! The metrics collector: every interval it reads each running instance's resource usage (Docker stats streams),
//! the load balancer's traffic, writes them as time series to the store, and runs the autoscaler
//! (`crane_core::autoscale::decide`) for apps that ask for it, applying its decisions through the store and the
//! reconcile loop.
//!
//! Each sample names its app, its instance (per instance: `cpu`, `memory`, `memory_mib`, `rps`) or none (app level:
//! `rps`, `latency_p95_ms`, `errors_per_s`, `replicas`, `ready`) and its [`SampleMetric`] as separate values.
//!
//! Every autoscaler decision the event log keeps carries its outcome as fields (`details.decision`, a
//! [`DecisionRecord`]: from/to replicas, metric, value, target) next to the inputs, so charts and the window read
//! numbers, not the reason's prose.
//!
//! Reaction: besides its interval, the collector watches the load balancers' recent request rate every
//! [`WATCH_EVERY`] and runs the autoscaler of an rps-scaled app at once when that rate moved out of the tolerance
//! band since its last decision, so a load step is acted on within a fraction of a second (HPA: a 15 s sync).
//!
//! Scale to zero: each round asks the load balancer of an app with `min: 0` whether it went without a request for
//! `idleAfter` and then scales the app to zero; the load balancer's wake requests (a request held at zero) go to the
//! loop as [`Command::Wake`], and its cold starts become `autoscale.woke` events.
//!
//! **Architecture Invariant:** the collector never starts or removes containers itself: a scaling decision changes the
//! stored replica count and asks the loop for a pass, like `cranectl scale` does; a wake is decided by the loop.

use crane_api::EventKind;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crane_core::autoscale::{self, Change, DecisionRecord, InstanceSample, Metric, Policy};
use crane_core::model::{ContainerState, Millis};
use crane_core::ports::{ResourceSample, Sample, SampleMetric, StoredApp};
use crane_proxy::hdrhistogram::Histogram;
use futures_util::StreamExt;

mod scrape;

use crate::clock::LockExt;
use crate::{now_ms, run, Command, Inner};

/// A hold with an unchanged recommendation is logged again after this long (the window shows the latest anyway).
const HOLD_LOG_EVERY: Millis = 30_000;

/// How often samples are compacted (rolled up and pruned).
const COMPACT_EVERY: Duration = Duration::from_secs(60);

/// How often the load balancers' recent request rates are compared with the autoscaler's last look.
pub(crate) const WATCH_EVERY: Duration = Duration::from_millis(100);

struct StatsEntry {
    latest: Arc<Mutex<Option<ResourceSample>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for StatsEntry {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// An app's load-balancer counters at the previous round: cumulative latency histogram, 5xx count, time.
type PreviousTraffic = (Histogram<u64>, u64, Millis);

/// What the collector keeps between rounds.
#[derive(Default)]
pub(crate) struct Collector {
    stats: Mutex<BTreeMap<String, StatsEntry>>,
    /// Per app: the load balancer's cumulative latency histogram and 5xx count at the previous round.
    previous: Mutex<BTreeMap<String, PreviousTraffic>>,
    /// Per app: earlier autoscaler recommendations (time, replicas), pruned to the stabilization window.
    recommendations: Mutex<BTreeMap<String, Vec<(Millis, u32)>>>,
    /// The samples of the latest round (the latest value of every series), for `/metrics`.
    pub latest: Mutex<Vec<Sample>>,
    /// Per instance (`app`, `instance`): whether its own `/metrics` answered and parsed at the last round, and how
    /// many samples it had.
    pub app_scrapes: Mutex<BTreeMap<(String, String), (bool, usize)>>,
    /// Per app: when a hold was last logged and its recommendation.
    last_hold: Mutex<BTreeMap<String, (Millis, u32)>>,
    /// Autoscaler decisions per (app, change), for `/metrics`.
    pub decision_counts: Mutex<BTreeMap<(String, String), u64>>,
    /// Latest autoscaler decision per app, for the views.
    pub decisions: Mutex<BTreeMap<String, LastDecision>>,
    /// Per app: bytes through its load balancer (all ports) and when, at the previous round.
    previous_bytes: Mutex<BTreeMap<String, (u64, Millis)>>,
    /// Scale-to-zero signals of the load balancers, taken by [`run`].
    zero_signals: Mutex<Option<tokio::sync::mpsc::UnboundedReceiver<crane_proxy::ZeroSignal>>>,
    /// Per rps-scaled app: the recent request rate its autoscaler last looked at.
    watched: Mutex<BTreeMap<String, f64>>,
}

/// The autoscaler's latest decision for one app.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LastDecision {
    /// When it was made.
    pub at: Millis,
    /// Its outcome as fields.
    pub record: DecisionRecord,
    /// Which way it scaled.
    pub change: Change,
    /// The sentence with the formula.
    pub reason: String,
    /// `usage / target`, when the metric was looked at.
    pub ratio: Option<f64>,
    /// What the metric recommended (after min/max).
    pub recommendation: u32,
    /// The rules that changed or held it.
    pub limits: Vec<autoscale::Limit>,
}

impl Collector {
    /// A collector that reads the load balancers' scale-to-zero signals from `signals`.
    pub(crate) fn with_zero_signals(
        signals: tokio::sync::mpsc::UnboundedReceiver<crane_proxy::ZeroSignal>,
    ) -> Collector {
        Collector { zero_signals: Mutex::new(Some(signals)), ..Collector::default() }
    }

    /// The CPU use (percent of one core) of the container whose id starts with `id_prefix`, from its latest stats
    /// sample when that is under 10 s old (the views carry 12-character ids).
    pub(crate) fn cpu_percent(&self, id_prefix: &str, now: Millis) -> Option<f64> {
        if id_prefix.is_empty() {
            return None;
        }
        let stats = self.stats.locked();
        let (_, entry) = stats.range(id_prefix.to_string()..).next().filter(|(id, _)| id.starts_with(id_prefix))?;
        let sample = entry.latest.locked().clone()?;
        (now.saturating_sub(sample.at) < 10_000).then_some(sample.cpu_percent)
    }

    /// Stops every stats stream.
    pub(crate) fn clear(&self) {
        self.stats.locked().clear();
    }
}

/// Runs the collector until the engine stops (the task is aborted with the engine).
pub(crate) async fn run(inner: Arc<Inner>) {
    let interval = inner.config.metrics_interval.clamp(Duration::from_millis(500), Duration::from_secs(5));
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut watch = tokio::time::interval(WATCH_EVERY);
    watch.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    // Wake requests are handled by a task of their own, so a cold start never waits for a collection round; it
    // ends with the collector (the guard aborts it when this future is dropped).
    let signals = inner.collector.zero_signals.locked().take().map(|mut signals| {
        let inner = inner.clone();
        AbortOnDrop(tokio::spawn(async move {
            while let Some(signal) = signals.recv().await {
                on_zero_signal(&inner, signal).await;
            }
        }))
    });
    let _signals = signals;
    let mut last_compact = tokio::time::Instant::now();
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = watch.tick() => {
                for app in moved(&inner) {
                    round(&inner, Some(&app)).await;
                }
                continue;
            }
        }
        round(&inner, None).await;
        if last_compact.elapsed() >= COMPACT_EVERY {
            last_compact = tokio::time::Instant::now();
            if let Err(e) = inner.store.compact_samples(now_ms()).await {
                tracing::warn!("cannot compact metric samples: {e}");
            }
        }
    }
}

/// Aborts a task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The rps-scaled apps whose recent request rate left the tolerance band around the rate their autoscaler last
/// looked at (cheap: the load balancers' counters are atomics).
fn moved(inner: &Arc<Inner>) -> Vec<String> {
    let watched = inner.collector.watched.locked().clone();
    let mut moved = Vec::new();
    for (app, (last, target)) in watched.iter().filter_map(|(app, last)| {
        let target = inner.collector.decisions.locked().get(app).map(|d| d.record.target)?;
        Some((app, (*last, target)))
    }) {
        let Some(traffic) = inner.proxies.metrics(app) else { continue };
        let now = traffic.app.traffic.rps_recent;
        // A change of more than 10 % of the larger of the last rate and the target: noise within the tolerance
        // band waits for the interval.
        if (now - last).abs() > autoscale::DEFAULT_TOLERANCE * last.max(target) {
            moved.push(app.clone());
        }
    }
    moved
}

/// A load balancer's scale-to-zero signal: a wake goes to the loop (which decides and starts the instance); a cold
/// start is recorded.
async fn on_zero_signal(inner: &Arc<Inner>, signal: crane_proxy::ZeroSignal) {
    match signal {
        crane_proxy::ZeroSignal::Wake { app } => {
            let _ = inner.commands.send(Command::Wake { app }).await;
        }
        crane_proxy::ZeroSignal::Woke { app, cold_start_ms, released } => {
            let reason = format!(
                "'{app}' woke from zero: cold start {cold_start_ms} ms (first held request → an instance ready); \
                 {released} held {} go through",
                if released == 1 { "request" } else { "requests" }
            );
            let details = serde_json::json!({ "cold_start_ms": cold_start_ms, "released": released });
            run::record(inner, Some(&app), None, EventKind::AutoscaleWoke, reason, details).await;
        }
    }
}

/// Scales an idle app with `min: 0` to zero when its load balancer says it went without a request for `idleAfter`;
/// returns whether it did (then the autoscaler skips it this round).
async fn scale_to_zero(inner: &Arc<Inner>, app: &StoredApp) -> bool {
    let Some(policy) = app.spec.autoscaling.as_ref().map(Policy::from_spec) else { return false };
    let Some(idle_after) = policy.idle_after else { return false };
    if app.spec.replicas == 0 {
        return false;
    }
    let Some(idle_ms) = inner.proxies.idle_check(&app.spec.name) else { return false };
    let name = &app.spec.name;
    let Some(to) = crate::policies::bound_autoscaler(inner, &app.spec, 0).await else { return false };
    if to != 0 {
        return false;
    }
    let from = app.spec.replicas;
    if !matches!(crate::store_replicas(inner, name, Some(from), 0).await, Ok(Some(_))) {
        return false;
    }
    let reason = format!(
        "no request for {} (idleAfter {}) → scale {from}→0; the load balancer keeps listening and the next request \
         wakes the app",
        crane_core::units::format_millis(idle_ms),
        crane_core::units::format_millis(idle_after)
    );
    let details = serde_json::json!({
        "idle_ms": idle_ms,
        "idle_after_ms": idle_after,
        "decision": { "from": from, "to": 0, "metric": policy.metric.as_str(), "value": null, "target": policy.target },
    });
    run::record(inner, Some(name), None, EventKind::AutoscaleZero, reason, details).await;
    let (reply, _rx) = tokio::sync::oneshot::channel();
    let _ = inner.commands.send(Command::Reconcile { reply, retry: None, forget: None }).await;
    true
}

/// One collection round: every app, or (`only`) one app whose load moved, without scraping the apps' own metrics.
async fn round(inner: &Arc<Inner>, only: Option<&str>) {
    let Ok(mut apps) = inner.store.list_apps().await else { return };
    if let Some(only) = only {
        apps.retain(|a| a.spec.name == only);
    }
    let now = now_ms();
    let (running, ready): (Vec<crane_core::model::ObservedInstance>, std::collections::BTreeSet<String>) = {
        let shared = inner.shared.locked();
        (
            shared.observed.iter().filter(|o| o.state == ContainerState::Running).cloned().collect(),
            shared.in_load_balancer.clone(),
        )
    };
    sync_stats(inner, &running);
    if only.is_none() {
        scrape_apps(inner, &apps, &running).await;
    }
    let mut samples = Vec::new();
    let mut per_app_instances: BTreeMap<String, Vec<InstanceSample>> = BTreeMap::new();
    let mut app_values: BTreeMap<String, BTreeMap<SampleMetric, f64>> = BTreeMap::new();
    for app in &apps {
        let name = &app.spec.name;
        let traffic = inner.proxies.metrics(name);
        let mut instances = Vec::new();
        // During a rollout instances run under their own revision's limits: each percentage is of its own limits,
        // and weighs by them (read only when an older revision still runs).
        let older: BTreeMap<u64, crane_core::spec::AppSpec> =
            if running.iter().any(|o| &o.app == name && o.revision != app.revision) {
                let revisions = inner.store.list_revisions(name).await.unwrap_or_default();
                revisions.into_iter().map(|r| (r.revision, r.spec)).collect()
            } else {
                BTreeMap::new()
            };
        for o in running.iter().filter(|o| &o.app == name) {
            let spec = older.get(&o.revision).filter(|_| o.revision != app.revision).unwrap_or(&app.spec);
            let latest = inner.collector.stats.locked().get(&o.id).and_then(|e| e.latest.locked().clone());
            let sample = |metric: SampleMetric, value: f64| Sample {
                app: name.clone(),
                instance: Some(o.name.clone()),
                metric,
                at: now,
                value,
            };
            let mut cpu = None;
            let mut memory = None;
            if let Some(s) = latest.filter(|s| now.saturating_sub(s.at) < 10_000) {
                let (c, m) = usage_percent(spec, &s);
                samples.push(sample(SampleMetric::Cpu, c));
                samples.push(sample(SampleMetric::Memory, m));
                samples.push(sample(SampleMetric::MemoryMib, s.memory_bytes as f64 / 1048576.0));
                cpu = Some(c);
                memory = Some(m);
            }
            let backend = traffic.as_ref().and_then(|t| t.backends.iter().find(|b| b.id == o.id));
            if let Some(b) = backend {
                samples.push(sample(SampleMetric::Rps, b.traffic.rps));
            }
            // The autoscaler reads the recent rate (the last second), so a load step counts at once; the stored
            // series keeps the smoother ten-second rate.
            let rps = backend.map(|b| b.traffic.rps_recent);
            // Each instance's limits weigh its cpu and memory percentages (total usage over total limits).
            let (cpu_limit, memory_limit) =
                (spec.effective_nano_cpus() as f64 / 1e9, spec.effective_memory_bytes() as f64);
            let (value, limit) = match app.spec.autoscaling.as_ref().map(|a| a.metric) {
                Some(Metric::Cpu) => (cpu, Some(cpu_limit)),
                Some(Metric::Memory) => (memory, Some(memory_limit)),
                // An instance the load balancer does not send to yet has no request rate of its own.
                Some(Metric::Rps) => (rps.or(ready.contains(&o.id).then_some(0.0)), None),
                Some(Metric::LatencyP95 | Metric::Custom) | None => (None, None),
            };
            instances.push(InstanceSample {
                name: o.name.clone(),
                ready: ready.contains(&o.id) && o.index <= app.spec.replicas,
                value,
                limit,
            });
        }
        let mut values = BTreeMap::new();
        // The windows of latency, errors and bytes run from one full round to the next: a quick round for one app
        // neither reads nor restarts them.
        let full = only.is_none();
        if let Some(t) = traffic.as_ref().filter(|_| full) {
            values.insert(SampleMetric::Rps, t.app.traffic.rps);
            let histogram = inner.proxies.latency_histogram(name);
            let errors = t.app.traffic.status_5xx;
            let mut previous = inner.collector.previous.locked();
            if let (Some(h), Some((prev_h, prev_errors, prev_at))) = (histogram.as_ref(), previous.get(name)) {
                let mut window = h.clone();
                if window.subtract(prev_h).is_ok() && !window.is_empty() {
                    values.insert(SampleMetric::LatencyP95Ms, window.value_at_quantile(0.95) as f64 / 1000.0);
                } else {
                    values.insert(SampleMetric::LatencyP95Ms, 0.0);
                }
                let secs = (now.saturating_sub(*prev_at) as f64 / 1000.0).max(0.001);
                values.insert(SampleMetric::ErrorsPerS, errors.saturating_sub(*prev_errors) as f64 / secs);
            }
            if let Some(h) = histogram {
                previous.insert(name.clone(), (h, errors, now));
            }
        }
        // Connections and bytes of every port (tcp ports and WebSockets included).
        let ports = if full { inner.proxies.ports(name) } else { Vec::new() };
        if !ports.is_empty() {
            let sum =
                |f: fn(&crane_proxy::Traffic) -> f64| ports.iter().map(|p| f(&p.metrics.app.traffic)).sum::<f64>();
            values.insert(SampleMetric::OpenConnections, sum(|t| t.open_connections as f64));
            values.insert(SampleMetric::ConnectionsPerS, sum(|t| t.connections_per_second));
            let bytes = sum(|t| (t.bytes_in + t.bytes_out) as f64) as u64;
            let mut previous = inner.collector.previous_bytes.locked();
            if let Some((before, at)) = previous.get(name) {
                let secs = (now.saturating_sub(*at) as f64 / 1000.0).max(0.001);
                values.insert(SampleMetric::BytesPerS, bytes.saturating_sub(*before) as f64 / secs);
            }
            previous.insert(name.clone(), (bytes, now));
        }
        values.insert(SampleMetric::Replicas, f64::from(app.spec.replicas));
        values.insert(SampleMetric::Ready, instances.iter().filter(|i| i.ready).count() as f64);
        for (metric, value) in &values {
            samples.push(Sample { app: name.clone(), instance: None, metric: metric.clone(), at: now, value: *value });
        }
        per_app_instances.insert(name.clone(), instances);
        app_values.insert(name.clone(), values);
    }
    // Only full rounds are stored: the series keep one sample per interval (a chart reads a much shorter spacing as
    // the normal one, and the interval's samples as gaps), while a quick round only decides.
    if only.is_none() {
        if let Err(e) = inner.store.append_samples(&samples).await {
            tracing::warn!("cannot store metric samples: {e}");
        }
    }
    // The views keep the full round's figures; a quick round only decides.
    if only.is_none() {
        *inner.collector.latest.locked() = samples;
    }
    for app in apps.iter().filter(|a| a.spec.autoscaling.is_some()) {
        if scale_to_zero(inner, app).await {
            continue;
        }
        let instances = per_app_instances.remove(&app.spec.name).unwrap_or_default();
        let values = app_values.remove(&app.spec.name).unwrap_or_default();
        if app.spec.autoscaling.as_ref().is_some_and(|a| a.metric == Metric::Rps) {
            if let Some(t) = inner.proxies.metrics(&app.spec.name) {
                inner.collector.watched.locked().insert(app.spec.name.clone(), t.app.traffic.rps_recent);
            }
        } else {
            inner.collector.watched.locked().remove(&app.spec.name);
        }
        autoscale_app(inner, app, instances, &values, now).await;
    }
}

/// How long one instance's `/metrics` may take.
/// Scrapes each running instance's own `/metrics` (apps with a port) within the bounds of [`scrape`] (no redirects,
/// a deadline, 1 MiB, 10,000 samples). What matters for the views and Crane's `/metrics` is whether the app exposes
/// metrics and how many; the samples themselves are for a real Prometheus, which discovers the same instances through
/// `/api/v1/sd`.
async fn scrape_apps(inner: &Arc<Inner>, apps: &[StoredApp], running: &[crane_core::model::ObservedInstance]) {
    let addresses = inner.shared.locked().addresses.clone();
    let client = match scrape::client() {
        Ok(c) => c,
        Err(_) => return,
    };
    let scrapes = running.iter().filter_map(|o| {
        let app = apps.iter().find(|a| a.spec.name == o.app)?;
        let port = app.spec.ports.first()?.container;
        let ip = addresses.get(&o.id)?;
        let url = format!("http://{ip}:{port}/metrics");
        let (client, key) = (client.clone(), (o.app.clone(), o.name.clone()));
        Some(async move {
            let parsed = scrape::scrape(&client, &url).await;
            if let Err(why) = &parsed {
                tracing::debug!(instance = %key.1, %url, %why, "scrape gave up");
            }
            (key, parsed.ok())
        })
    });
    let results = futures_util::future::join_all(scrapes).await;
    let mut map = inner.collector.app_scrapes.locked();
    map.clear();
    for (key, parsed) in results {
        map.insert(key, (parsed.is_some(), parsed.unwrap_or(0)));
    }
}

/// Starts a stats stream for each new running container and stops those of containers that are gone.
fn sync_stats(inner: &Arc<Inner>, running: &[crane_core::model::ObservedInstance]) {
    let mut stats = inner.collector.stats.locked();
    stats.retain(|id, e| running.iter().any(|o| &o.id == id) && !e.task.is_finished());
    for o in running {
        if stats.contains_key(&o.id) {
            continue;
        }
        let latest: Arc<Mutex<Option<ResourceSample>>> = Arc::default();
        let (runtime, id, slot) = (inner.runtime.clone(), o.id.clone(), latest.clone());
        let task = tokio::spawn(async move {
            let Ok(mut stream) = runtime.stats(&id).await else { return };
            while let Some(Ok(sample)) = stream.next().await {
                *slot.locked() = Some(sample);
            }
        });
        stats.insert(o.id.clone(), StatsEntry { latest, task });
    }
}

/// Runs the autoscaler for one app and applies its decision.
async fn autoscale_app(
    inner: &Arc<Inner>,
    app: &StoredApp,
    instances: Vec<InstanceSample>,
    values: &BTreeMap<SampleMetric, f64>,
    now: Millis,
) {
    let Some(spec) = app.spec.autoscaling.as_ref() else { return };
    let policy = Policy::from_spec(spec);
    let app_value = match policy.metric {
        Metric::LatencyP95 => values.get(&SampleMetric::LatencyP95Ms).copied(),
        Metric::Custom => custom_value(inner, spec.query.as_deref()).await,
        _ => None,
    };
    let window = policy.scale_down_stabilization;
    let recommendations = {
        let mut all = inner.collector.recommendations.locked();
        let list = all.entry(app.spec.name.clone()).or_default();
        list.retain(|(at, _)| now.saturating_sub(*at) <= window);
        list.clone()
    };
    let input = autoscale::Input {
        app: app.spec.name.clone(),
        now,
        current: app.spec.replicas,
        policy,
        instances,
        app_value,
        recommendations,
    };
    let decision = autoscale::decide(&input);
    inner
        .collector
        .recommendations
        .lock()
        .unwrap()
        .entry(app.spec.name.clone())
        .or_default()
        .push((now, decision.recommendation));
    let record = decision.record(&input);
    let last = LastDecision {
        at: now,
        record,
        change: decision.change,
        reason: decision.reason.clone(),
        ratio: decision.ratio,
        recommendation: decision.recommendation,
        limits: decision.limits.clone(),
    };
    inner.collector.decisions.locked().insert(app.spec.name.clone(), last);
    let details = details(&decision.inputs, &record);
    let name = &app.spec.name;
    let change = match decision.change {
        Change::Up => "up",
        Change::Down => "down",
        Change::None => "none",
    };
    *inner.collector.decision_counts.locked().entry((name.clone(), change.to_string())).or_default() += 1;
    if decision.change == Change::None {
        // Log holds worth reading, but not every round: again only when the recommendation changes, or after 30 s.
        let log_it = decision.interesting && {
            let mut holds = inner.collector.last_hold.locked();
            let due = match holds.get(name) {
                Some((at, rec)) => *rec != decision.recommendation || now.saturating_sub(*at) >= HOLD_LOG_EVERY,
                None => true,
            };
            if due {
                holds.insert(name.clone(), (now, decision.recommendation));
            }
            due
        };
        if log_it {
            run::record(inner, Some(name), None, EventKind::AutoscaleHold, decision.reason.clone(), details).await;
        }
        return;
    }
    // The scaling policy bounds the autoscaler like every other replica change; when it refuses, fails, or clamps
    // back to the current count, the autoscaler holds (the policy's event says why).
    let Some(desired) = crate::policies::bound_autoscaler(inner, &app.spec, decision.desired).await else { return };
    let changed = crate::store_replicas(inner, name, Some(app.spec.replicas), desired).await;
    if matches!(changed, Ok(Some(_))) {
        run::record(inner, Some(name), None, EventKind::AutoscaleScaled, decision.reason.clone(), details).await;
        let (reply, _rx) = tokio::sync::oneshot::channel();
        let _ = inner.commands.send(Command::Reconcile { reply, retry: None, forget: None }).await;
    }
}

/// CPU and memory use of one instance in percent of the limits it runs under, as HPA's resource metrics: the spec's
/// limits, or the defaults every container gets when the spec sets none (`AppSpec::effective_nano_cpus`,
/// `effective_memory_bytes`). Never the limit the stats report, which is the host's memory (or 0) for a container an
/// older Crane started without one.
fn usage_percent(spec: &crane_core::spec::AppSpec, sample: &ResourceSample) -> (f64, f64) {
    let cores = spec.effective_nano_cpus() as f64 / 1e9;
    let memory = spec.effective_memory_bytes().max(1) as f64;
    (sample.cpu_percent / cores, sample.memory_bytes as f64 * 100.0 / memory)
}

/// An autoscaler event's details: the decision's inputs, and its outcome as fields under `"decision"`.
fn details(inputs: &serde_json::Value, record: &DecisionRecord) -> serde_json::Value {
    let mut details = inputs.clone();
    if let (Some(map), Ok(record)) = (details.as_object_mut(), serde_json::to_value(record)) {
        map.insert("decision".to_string(), record);
    }
    details
}

/// The value of a custom Prometheus query (`metric: custom`), from the Prometheus at `CRANE_PROMETHEUS_URL`.
async fn custom_value(inner: &Arc<Inner>, query: Option<&str>) -> Option<f64> {
    let url = inner.config.prometheus_url.clone()?;
    let query = query?;
    let client = reqwest::Client::builder().timeout(Duration::from_secs(2)).build().ok()?;
    let body: serde_json::Value =
        client.get(format!("{url}/api/v1/query")).query(&[("query", query)]).send().await.ok()?.json().await.ok()?;
    // An instant vector's first sample, or a scalar: `[time, "value"]`.
    let value = body["data"]["result"].get(0).map(|r| &r["value"]).unwrap_or(&body["data"]["result"]);
    value.get(1)?.as_str()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(cpu_percent: f64, memory_bytes: u64, memory_limit_bytes: u64) -> ResourceSample {
        ResourceSample { at: 0, cpu_percent, memory_bytes, memory_limit_bytes, net_rx_bytes: 0, net_tx_bytes: 0 }
    }

    /// Percent of the limits the instance runs under: the spec's, else Crane's defaults (1 CPU, 512 MiB), never the
    /// limit the stats report (the host's memory, or 0, for a container started without one).
    #[test]
    fn usage_is_a_percent_of_the_effective_limits() {
        let spec = |extra: &str| crane_core::validate::parse_spec(&format!("name: w\nimage: x\n{extra}")).unwrap();
        let host = 64 * 1024 * 1024 * 1024;
        let mib = 1024 * 1024;
        for (extra, stats, expected) in [
            ("", sample(50.0, 256 * mib, host), (50.0, 50.0)),
            ("", sample(50.0, 256 * mib, 0), (50.0, 50.0)),
            ("resources: { cpu: 0.5, memory: 128Mi }\n", sample(25.0, 32 * mib, host), (50.0, 25.0)),
            ("resources: { cpu: 2 }\n", sample(150.0, 128 * mib, 0), (75.0, 25.0)),
            ("resources: { memory: 1Gi }\n", sample(10.0, 256 * mib, host), (10.0, 25.0)),
        ] {
            let (cpu, memory) = usage_percent(&spec(extra), &stats);
            assert!((cpu - expected.0).abs() < 1e-9 && (memory - expected.1).abs() < 1e-9, "{extra:?}: {cpu} {memory}");
        }
    }
}
