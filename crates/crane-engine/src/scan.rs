//! The image scanner in the engine: scans local images through the Docker adapter's [`ImageSource`] (a
//! `docker save` stream read on a blocking thread by the pure `crane_scan`), matches them against the advisory
//! database (`crane_store::AdvisoryDb`, `<data dir>/advisories.db`), caches reports by image id and database
//! generation, runs scan jobs with progress and cancel for the window, imports OSV advisories, and gives the
//! admission policy its `scan` input (the deploy gate).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crane_api::{
    AdvisoryDbView, AuditAction, ChangeView, EcosystemCount, EventKind, HygieneCheck, HygieneFinding, HygieneLevel,
    ImportRequest, ImportResult, ProgressView, ScanFinding, ScanJobView, ScanLayer, ScanPackage, ScanReport,
    ScanRequest, ScanSeverity, ScanState, SeverityCounts, TrivyComparison,
};
use crane_core::access::Permission;
use crane_docker::{ImageInfo, ImageSource};
use crane_scan::inventory::Inventory;
use crane_scan::osv::{self, Advisory};
use crane_scan::{Ecosystem, Limits};
use crane_store::AdvisoryDb;
use futures_util::StreamExt;
use serde_json::{json, Value};
use tokio::sync::watch;

use crate::clock::LockExt;
use crate::error::{EngineError, Result};
use crate::EngineHandle;

/// Longest a scan may take (reading, matching, Trivy) before it is given up.
pub const SCAN_TIMEOUT: Duration = Duration::from_secs(300);
/// Reports kept in memory (by image id).
const MAX_CACHED: usize = 256;
/// Scan jobs kept (finished ones are dropped oldest first).
const MAX_JOBS: usize = 64;
/// Most findings the admission input carries (worst first).
pub const MAX_ADMISSION_FINDINGS: usize = 200;
/// Most refusals an import names.
const MAX_IMPORT_PROBLEMS: usize = 20;
/// Rows written per transaction during an import.
const IMPORT_BATCH: usize = 2000;

/// A cached scan: the report and what the SBOM is made from.
struct Cached {
    generation: u64,
    report: ScanReport,
    inventory: Inventory,
    layer_ids: Vec<String>,
}

struct Job {
    view: ScanJobView,
    cancel: watch::Sender<bool>,
}

/// The scanner's state in the engine.
pub(crate) struct Scans {
    source: Option<Arc<dyn ImageSource>>,
    db: tokio::sync::OnceCell<AdvisoryDb>,
    cache: Mutex<HashMap<String, Arc<Cached>>>,
    jobs: Mutex<BTreeMap<u32, Job>>,
    next_job: AtomicU32,
}

impl Scans {
    /// The image source scans read from (none without Docker); the window's image checks use it too.
    pub(crate) fn image_source(&self) -> Option<&Arc<dyn ImageSource>> {
        self.source.as_ref()
    }

    /// The scanner over this image source (none without Docker).
    pub(crate) fn new(source: Option<Arc<dyn ImageSource>>) -> Scans {
        Scans {
            source,
            db: tokio::sync::OnceCell::new(),
            cache: Mutex::default(),
            jobs: Mutex::default(),
            next_job: AtomicU32::new(1),
        }
    }
}

fn severity(s: osv::Severity) -> ScanSeverity {
    match s {
        osv::Severity::Unknown => ScanSeverity::Unknown,
        osv::Severity::Low => ScanSeverity::Low,
        osv::Severity::Medium => ScanSeverity::Medium,
        osv::Severity::High => ScanSeverity::High,
        osv::Severity::Critical => ScanSeverity::Critical,
    }
}

fn hygiene_view(h: crane_scan::hygiene::Finding) -> HygieneFinding {
    use crane_scan::hygiene::{Check, Level};
    HygieneFinding {
        check: match h.check {
            Check::RunsAsRoot => HygieneCheck::RunsAsRoot,
            Check::NoHealthcheck => HygieneCheck::NoHealthcheck,
            Check::MutableTag => HygieneCheck::MutableTag,
            Check::SecretInEnv => HygieneCheck::SecretInEnv,
            Check::SecretInLabel => HygieneCheck::SecretInLabel,
            Check::SetuidFile => HygieneCheck::SetuidFile,
            Check::WorldWritableDir => HygieneCheck::WorldWritableDir,
            Check::LargeImage => HygieneCheck::LargeImage,
            Check::ManyLayers => HygieneCheck::ManyLayers,
            Check::PrivilegedPort => HygieneCheck::PrivilegedPort,
        },
        level: match h.level {
            Level::Info => HygieneLevel::Info,
            Level::Warning => HygieneLevel::Warning,
            Level::High => HygieneLevel::High,
        },
        message: h.message,
        fix: h.fix,
    }
}

fn rfc3339(ms: i64) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default()
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn db_view(path: &Path, status: crane_store::AdvisoryStatus) -> AdvisoryDbView {
    AdvisoryDbView {
        path: path.display().to_string(),
        advisories: status.advisories,
        rows: status.rows,
        ecosystems: status
            .ecosystems
            .into_iter()
            .map(|(ecosystem, advisories)| EcosystemCount { ecosystem, advisories })
            .collect(),
        imported_at: status.imported_at.map(rfc3339),
        age_s: status.imported_at.map(|at| u64::try_from((now_ms() - at) / 1000).unwrap_or(0)),
        newest_modified: status.newest_modified,
        generation: status.generation,
        sources: status.sources,
    }
}

/// A `Read` over the chunks the export task sends; a failure of the stream reads as an I/O error worded with
/// `crane_scan::image::STREAM_FAILURE`, so the scanner reports it as a read failure, not a damaged image.
struct ChannelReader {
    rx: tokio::sync::mpsc::Receiver<std::result::Result<bytes::Bytes, String>>,
    current: bytes::Bytes,
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                Some(Ok(chunk)) => self.current = chunk,
                Some(Err(why)) => {
                    return Err(std::io::Error::other(format!("{} failed: {why}", crane_scan::image::STREAM_FAILURE)))
                }
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        self.current = self.current.slice(n..);
        Ok(n)
    }
}

/// What a scan read from the image, before matching.
struct Read_ {
    inventory: Inventory,
    hygiene: Vec<crane_scan::hygiene::Finding>,
    layers: Vec<ScanLayer>,
    layer_ids: Vec<String>,
    warnings: Vec<String>,
}

impl EngineHandle {
    fn scans(&self) -> &Scans {
        &self.inner.scans
    }

    fn source(&self) -> Result<Arc<dyn ImageSource>> {
        self.scans().source.clone().ok_or_else(|| {
            let why = self.inner.shared.locked().docker_error.clone().unwrap_or_else(|| "no Docker client".into());
            EngineError::DockerUnreachable(format!("cannot read images for a scan: {why}"))
        })
    }

    /// The advisory database, opened on first use.
    async fn advisory_db(&self) -> Result<&AdvisoryDb> {
        let path = self.advisory_db_path();
        self.scans()
            .db
            .get_or_try_init(|| async move {
                AdvisoryDb::open(&path).await.map_err(|e| EngineError::Internal(e.to_string()))
            })
            .await
    }

    fn advisory_db_path(&self) -> PathBuf {
        self.inner.config.data_dir.join("advisories.db")
    }

    /// The advisory database's state (every role).
    pub async fn advisory_db_status(&self) -> Result<AdvisoryDbView> {
        let db = self.advisory_db().await?;
        let status = db.status().await.map_err(|e| EngineError::Internal(e.to_string()))?;
        Ok(db_view(&self.advisory_db_path(), status))
    }

    /// Imports OSV advisories from a path on this machine: an OSV JSON file, a folder (recursively: `.json` files
    /// and `.zip` exports), or an OSV zip export. Admins (it changes what every deploy is checked against). Audited;
    /// a `scan.db_imported` event. Refused documents are counted and the first named; an import that imports
    /// nothing and refused something is an error.
    pub async fn import_advisories(&self, request: &ImportRequest) -> Result<ImportResult> {
        self.audited(AuditAction::ScanDbImport, None, Some(&request.path), async {
            self.authorize(Permission::ManageSettings, None).await?;
            self.import_now(Path::new(&request.path)).await
        })
        .await
    }

    async fn import_now(&self, path: &Path) -> Result<ImportResult> {
        let started = Instant::now();
        let meta = std::fs::metadata(path)
            .map_err(|e| EngineError::BadRequest(format!("cannot read {}: {e}", path.display())))?;
        let db = self.advisory_db().await?;
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<osv::Row>>(4);
        let root = path.to_path_buf();
        let single_file = meta.is_file();
        let reader = tokio::task::spawn_blocking(move || read_advisories(&root, &tx));
        let mut written = 0u64;
        while let Some(batch) = rx.recv().await {
            db.put_rows(&batch).await.map_err(|e| EngineError::Internal(e.to_string()))?;
            written += batch.len() as u64;
        }
        let outcome = reader.await.map_err(|e| EngineError::Internal(format!("the import stopped: {e}")))?;
        let (imported, skipped, problems) = outcome.map_err(EngineError::BadRequest)?;
        if imported == 0 && (skipped > 0 || single_file) {
            let why = if problems.is_empty() { "no advisory in it".to_string() } else { problems.join("; ") };
            return Err(EngineError::BadRequest(format!("nothing imported from {}: {why}", path.display())));
        }
        let status = db
            .finish_import(&path.display().to_string(), now_ms())
            .await
            .map_err(|e| EngineError::Internal(e.to_string()))?;
        let result = ImportResult {
            imported,
            skipped,
            problems,
            duration_ms: started.elapsed().as_millis() as u64,
            db: db_view(&self.advisory_db_path(), status),
        };
        self.record(
            None,
            None,
            EventKind::ScanDbImported,
            format!(
                "imported {imported} advisories ({written} rows, {skipped} refused) from {} by {}; the database now \
                 holds {} advisories (generation {})",
                path.display(),
                self.caller().user,
                result.db.advisories,
                result.db.generation
            ),
            json!({"path": path.display().to_string(), "imported": imported, "skipped": skipped,
                   "problems": result.problems, "generation": result.db.generation}),
        )
        .await;
        Ok(result)
    }

    /// Scans an image and waits for the report (every role: a scan changes nothing). A report of the same image id
    /// and database generation is served from the cache unless `refresh`.
    pub async fn scan_image(&self, request: &ScanRequest) -> Result<ScanReport> {
        let (_tx, rx) = watch::channel(false);
        Ok(self.scan_cached(&request.image, request.trivy, request.refresh, None, rx).await?.report.clone())
    }

    /// The cached report of an image, if it was scanned against the current database (the app page's verdict).
    pub async fn cached_scan(&self, image: &str) -> Result<Option<ScanReport>> {
        let Ok(source) = self.source() else { return Ok(None) };
        let Some(info) = source.image_info(image).await.map_err(crate::runtime_error)? else { return Ok(None) };
        let generation =
            self.advisory_db().await?.generation().await.map_err(|e| EngineError::Internal(e.to_string()))?;
        let cached = self.scans().cache.locked().get(&info.id).cloned();
        Ok(cached.filter(|c| c.generation == generation).map(|c| {
            let mut report = c.report.clone();
            report.image = image.to_string();
            report.cached = true;
            report
        }))
    }

    /// The CycloneDX 1.5 SBOM of an image (scanning it first when no report is cached).
    pub async fn scan_sbom(&self, image: &str) -> Result<Value> {
        let (_tx, rx) = watch::channel(false);
        let cached = self.scan_cached(image, false, false, None, rx).await?;
        let serial = {
            let r: u128 = rand::random();
            let h = format!("{r:032x}");
            format!("urn:uuid:{}-{}-4{}-a{}-{}", &h[0..8], &h[8..12], &h[13..16], &h[17..20], &h[20..32])
        };
        let subject = crane_scan::sbom::Subject {
            image,
            digest: &cached.report.image_id,
            serial: &serial,
            timestamp: &cached.report.scanned_at,
            tool_version: env!("CARGO_PKG_VERSION"),
        };
        Ok(crane_scan::sbom::cyclonedx(&subject, &cached.inventory, &cached.layer_ids))
    }

    /// Starts a scan job (the window's progress bar): its view at once; progress as [`ChangeView::Progress`]
    /// (`operation` `scan:<id>`) and in [`EngineHandle::scan_job`].
    pub async fn start_scan(&self, request: &ScanRequest) -> Result<ScanJobView> {
        let id = self.scans().next_job.fetch_add(1, Ordering::Relaxed);
        let (cancel, rx) = watch::channel(false);
        let view = ScanJobView {
            id,
            image: request.image.clone(),
            state: ScanState::Running,
            bytes_read: 0,
            bytes_total: None,
            error: None,
            report: None,
        };
        {
            let mut jobs = self.scans().jobs.locked();
            while jobs.len() >= MAX_JOBS {
                let Some(oldest) = jobs.iter().find(|(_, j)| j.view.state != ScanState::Running).map(|(k, _)| *k)
                else {
                    return Err(EngineError::Conflict(format!(
                        "{MAX_JOBS} scans are running; wait for one to finish or cancel one"
                    )));
                };
                jobs.remove(&oldest);
            }
            jobs.insert(id, Job { view: view.clone(), cancel });
        }
        let handle = self.clone();
        let request = request.clone();
        tokio::spawn(async move {
            let outcome = handle.scan_cached(&request.image, request.trivy, request.refresh, Some(id), rx).await;
            let mut jobs = handle.scans().jobs.locked();
            if let Some(job) = jobs.get_mut(&id) {
                match outcome {
                    Ok(cached) => {
                        job.view.state = ScanState::Done;
                        job.view.report = Some(cached.report.clone());
                    }
                    Err(e) => {
                        job.view.state = if *job.cancel.borrow() { ScanState::Cancelled } else { ScanState::Failed };
                        job.view.error = Some(e.to_string());
                    }
                }
                let _ = handle.inner.changes.send(ChangeView::Progress {
                    progress: ProgressView {
                        operation: format!("scan:{id}"),
                        message: format!("scan of {}: {:?}", request.image, job.view.state),
                        fraction: Some(1.0),
                        done: true,
                        error: job.view.error.clone(),
                    },
                });
            }
        });
        Ok(view)
    }

    /// A scan job's state.
    pub fn scan_job(&self, id: u32) -> Result<ScanJobView> {
        self.scans()
            .jobs
            .locked()
            .get(&id)
            .map(|j| j.view.clone())
            .ok_or_else(|| EngineError::NotFound(format!("no scan job {id}; start one with POST /api/v1/scans")))
    }

    /// Cancels a running scan job (its reading stops at the next chunk).
    pub fn cancel_scan(&self, id: u32) -> Result<ScanJobView> {
        let jobs = self.scans().jobs.locked();
        let job = jobs.get(&id).ok_or_else(|| EngineError::NotFound(format!("no scan job {id}")))?;
        let _ = job.cancel.send(true);
        Ok(job.view.clone())
    }

    fn progress(&self, job: Option<u32>, read: u64, total: Option<u64>) {
        let Some(id) = job else { return };
        let mut jobs = self.scans().jobs.locked();
        if let Some(job) = jobs.get_mut(&id) {
            job.view.bytes_read = read;
            job.view.bytes_total = total;
            let _ = self.inner.changes.send(ChangeView::Progress {
                progress: ProgressView {
                    operation: format!("scan:{id}"),
                    message: format!("reading {} ({} MiB)", job.view.image, read / (1024 * 1024)),
                    fraction: total.filter(|t| *t > 0).map(|t| (read as f64 / t as f64).min(1.0)),
                    done: false,
                    error: None,
                },
            });
        }
    }

    /// The scan of an image against the current database: cached by image id and database generation.
    async fn scan_cached(
        &self,
        image: &str,
        trivy: bool,
        refresh: bool,
        job: Option<u32>,
        cancel: watch::Receiver<bool>,
    ) -> Result<Arc<Cached>> {
        if image.trim().is_empty() || image.len() > 512 {
            return Err(EngineError::BadRequest("`image` must name an image (at most 512 bytes)".to_string()));
        }
        let source = self.source()?;
        let info = source.image_info(image).await.map_err(crate::runtime_error)?.ok_or_else(|| {
            EngineError::ImageUnavailable(format!(
                "image {image} is not on this Docker engine; build or pull it first (`cranectl demo-image` builds \
                 the demo image)"
            ))
        })?;
        let db = self.advisory_db().await?;
        let generation = db.generation().await.map_err(|e| EngineError::Internal(e.to_string()))?;
        if !refresh && !trivy {
            if let Some(hit) = self.scans().cache.locked().get(&info.id).filter(|c| c.generation == generation) {
                let mut copy = Cached {
                    generation,
                    report: hit.report.clone(),
                    inventory: hit.inventory.clone(),
                    layer_ids: hit.layer_ids.clone(),
                };
                copy.report.cached = true;
                copy.report.image = image.to_string();
                return Ok(Arc::new(copy));
            }
        }
        let started = Instant::now();
        let outcome = tokio::time::timeout(SCAN_TIMEOUT, self.scan_now(image, &info, source, db, job, cancel, trivy))
            .await
            .unwrap_or_else(|_| {
                Err(EngineError::Conflict(format!(
                    "the scan of {image} took longer than {} s and was stopped",
                    SCAN_TIMEOUT.as_secs()
                )))
            });
        match outcome {
            Ok(mut cached) => {
                cached.generation = generation;
                cached.report.duration_ms = started.elapsed().as_millis() as u64;
                cached.report.db_generation = generation;
                let report = &cached.report;
                let c = &report.counts;
                self.record(
                    None,
                    None,
                    EventKind::ImageScanned,
                    format!(
                        "scanned image {image} ({}): {} critical, {} high, {} medium, {} low, {} unknown \
                         vulnerabilities ({} fixable) in {} packages; {} hygiene findings; advisory database \
                         generation {generation}",
                        short_id(&report.image_id),
                        c.critical,
                        c.high,
                        c.medium,
                        c.low,
                        c.unknown,
                        c.fixable,
                        report.packages.len(),
                        report.hygiene.len()
                    ),
                    json!({"image": image, "image_id": report.image_id, "counts": c,
                           "db_generation": generation, "duration_ms": report.duration_ms}),
                )
                .await;
                let cached = Arc::new(cached);
                let mut cache = self.scans().cache.locked();
                if cache.len() >= MAX_CACHED {
                    cache.clear();
                }
                cache.insert(info.id.clone(), cached.clone());
                Ok(cached)
            }
            Err(e) => {
                self.record(
                    None,
                    None,
                    EventKind::ImageScanFailed,
                    format!("the scan of image {image} failed: {e}"),
                    json!({"image": image, "error": e.to_string()}),
                )
                .await;
                Err(e)
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn scan_now(
        &self,
        image: &str,
        info: &ImageInfo,
        source: Arc<dyn ImageSource>,
        db: &AdvisoryDb,
        job: Option<u32>,
        mut cancel: watch::Receiver<bool>,
        trivy: bool,
    ) -> Result<Cached> {
        let (tx, rx) = tokio::sync::mpsc::channel(16);
        let reference = image.to_string();
        let reader = tokio::task::spawn_blocking(move || -> std::result::Result<Read_, crane_scan::ScanError> {
            let contents =
                crane_scan::image::read_image(ChannelReader { rx, current: bytes::Bytes::new() }, &Limits::default())?;
            let inventory = crane_scan::inventory::inventory(&contents);
            let hygiene = crane_scan::hygiene::check(&contents, &reference);
            let layers = contents
                .layers
                .iter()
                .map(|l| ScanLayer {
                    diff_id: l.diff_id.clone(),
                    created_by: l.created_by.clone(),
                    size: l.size,
                    entries: l.entries,
                })
                .collect();
            let layer_ids = contents.layers.iter().map(|l| l.diff_id.clone().unwrap_or_default()).collect();
            let mut warnings = contents.warnings.clone();
            warnings.extend(inventory.warnings.iter().cloned());
            Ok(Read_ { inventory, hygiene, layers, layer_ids, warnings })
        });
        // Pump the export into the reader; a cancel or a failed stream becomes the reader's error.
        let mut stream = source.export(&info.id);
        let mut read = 0u64;
        let mut last_report = 0u64;
        let mut cancelled = false;
        loop {
            tokio::select! {
                changed = cancel.changed() => {
                    if changed.is_ok() && *cancel.borrow() {
                        cancelled = true;
                        let _ = tx.send(Err("the scan was cancelled".to_string())).await;
                        break;
                    }
                }
                item = stream.next() => match item {
                    Some(Ok(chunk)) => {
                        read += chunk.len() as u64;
                        if read - last_report >= 1024 * 1024 {
                            last_report = read;
                            self.progress(job, read, info.size);
                        }
                        if tx.send(Ok(chunk)).await.is_err() {
                            break; // The reader stopped (damaged archive): its error says why.
                        }
                    }
                    Some(Err(e)) => {
                        let _ = tx.send(Err(e.to_string())).await;
                        break;
                    }
                    None => break,
                }
            }
        }
        drop(tx);
        drop(stream);
        let outcome = reader.await.map_err(|e| EngineError::Internal(format!("the scan stopped: {e}")))?;
        self.progress(job, read, info.size);
        if cancelled {
            return Err(EngineError::Conflict(format!("the scan of {image} was cancelled")));
        }
        // An image removed while Docker sent it may still arrive whole; the scan is of an image that is gone.
        if source.image_info(&info.id).await.map_err(crate::runtime_error)?.is_none() {
            return Err(EngineError::ImageUnavailable(format!(
                "image {image} ({}) was removed while it was being scanned; nothing was reported",
                short_id(&info.id)
            )));
        }
        let read = outcome.map_err(|e| match e {
            crane_scan::ScanError::Read(why) => {
                EngineError::ImageUnavailable(format!("could not read image {image} from Docker: {why}"))
            }
            other => EngineError::BadRequest(format!("image {image} could not be scanned: {other}")),
        })?;
        // Advisories of every package, looked up once per (ecosystem, name).
        let keys: BTreeSet<(Ecosystem, String)> =
            read.inventory.packages.iter().map(|p| (p.ecosystem, osv::package_key(p.ecosystem, &p.name))).collect();
        let mut advisories: HashMap<(Ecosystem, String), Vec<Advisory>> = HashMap::new();
        let mut warnings = read.warnings;
        for key in keys {
            let docs = db.lookup(key.0.as_str(), &key.1).await.map_err(|e| EngineError::Internal(e.to_string()))?;
            let parsed: Vec<Advisory> = docs.iter().filter_map(|d| serde_json::from_str(d).ok()).collect();
            if parsed.len() < docs.len() {
                warnings.push(format!(
                    "{} stored advisories of {} could not be read",
                    docs.len() - parsed.len(),
                    key.1
                ));
            }
            advisories.insert(key, parsed);
        }
        let findings = osv::match_inventory(&read.inventory, |e, k| {
            advisories.get(&(e, k.to_string())).cloned().unwrap_or_default()
        });
        if read.inventory.os.is_none() && read.inventory.packages.iter().any(|p| p.ecosystem.is_os()) {
            warnings.push(
                "the image has OS packages but no /etc/os-release, so its release is unknown and OS advisories \
                 were not matched"
                    .to_string(),
            );
        }
        let mut counts = SeverityCounts::default();
        for f in &findings {
            match f.severity {
                osv::Severity::Critical => counts.critical += 1,
                osv::Severity::High => counts.high += 1,
                osv::Severity::Medium => counts.medium += 1,
                osv::Severity::Low => counts.low += 1,
                osv::Severity::Unknown => counts.unknown += 1,
            }
            counts.fixable += u32::from(f.fixed.is_some());
        }
        let finding_views: Vec<ScanFinding> = findings
            .iter()
            .map(|f| ScanFinding {
                id: f.id.clone(),
                aliases: f.aliases.clone(),
                package: f.package.clone(),
                binary: f.binary.clone(),
                ecosystem: f.ecosystem.as_str().to_string(),
                installed: f.installed.clone(),
                fixed: f.fixed.clone(),
                severity: severity(f.severity),
                score: f.score,
                summary: f.summary.clone(),
                layer: f.layer as u32,
                path: format!("/{}", f.path),
            })
            .collect();
        let trivy = if trivy { run_trivy(image, &findings).await } else { TrivyComparison::default() };
        let os = read.inventory.os.as_ref();
        let db_advisories = db.status().await.map(|s| s.advisories).unwrap_or(0);
        let report = ScanReport {
            image: image.to_string(),
            image_id: info.id.clone(),
            scanned_at: rfc3339(now_ms()),
            cached: false,
            duration_ms: 0,
            os: os.and_then(|o| o.pretty_name.clone().or_else(|| Some(o.id.clone()))),
            os_release: os.and_then(|o| Some(format!("{}:{}", o.ecosystem()?.as_str(), o.osv_release()?))),
            counts,
            findings: finding_views,
            packages: read
                .inventory
                .packages
                .iter()
                .map(|p| ScanPackage {
                    ecosystem: p.ecosystem.as_str().to_string(),
                    name: p.name.clone(),
                    version: p.version.clone(),
                    binary: p.binary.clone(),
                    path: format!("/{}", p.path),
                    layer: p.layer as u32,
                })
                .collect(),
            hygiene: read.hygiene.into_iter().map(hygiene_view).collect(),
            layers: read.layers,
            warnings,
            db_generation: 0,
            db_advisories,
            trivy,
        };
        Ok(Cached { generation: 0, report, inventory: read.inventory, layer_ids: read.layer_ids })
    }

    /// The admission input's `scan` document for an image: a summary of its scan (scanned on first use of an image
    /// id, cached by id and database generation), or why there is none (`status`: `scanned`, `not_local`,
    /// `unavailable`, `failed`).
    pub(crate) async fn admission_scan(&self, image: &str) -> Value {
        let source = match self.source() {
            Ok(source) => source,
            Err(e) => return json!({"status": "unavailable", "image": image, "reason": e.to_string()}),
        };
        match source.image_info(image).await {
            Ok(Some(_)) => {}
            Ok(None) => {
                return json!({"status": "not_local", "image": image,
                              "reason": "the image is not on this Docker engine yet; it is scanned once it is"})
            }
            Err(e) => return json!({"status": "unavailable", "image": image, "reason": e.to_string()}),
        }
        let (_tx, rx) = watch::channel(false);
        match self.scan_cached(image, false, false, None, rx).await {
            Ok(cached) => admission_summary(&cached.report),
            Err(e) => json!({"status": "failed", "image": image, "reason": e.to_string()}),
        }
    }

    /// Builds the vulnerable demo variant `crane-demo:vulnerable` through the loop (operators and admins; audited
    /// as the demo image build).
    pub async fn build_vulnerable_demo_image(&self) -> Result<String> {
        self.audited(AuditAction::ImageBuildDemo, None, Some(crane_docker::VULNERABLE_DEMO_IMAGE), async {
            self.authorize(Permission::ManageApp, None).await?;
            self.image_work(crate::ImageWork::BuildVulnerableDemo).await
        })
        .await
    }
}

/// The summary of a report the admission policy reads (`input.scan`).
pub fn admission_summary(report: &ScanReport) -> Value {
    let findings: Vec<Value> = report
        .findings
        .iter()
        .take(MAX_ADMISSION_FINDINGS)
        .map(|f| {
            json!({"id": f.id, "aliases": f.aliases, "package": f.package, "binary": f.binary,
                   "ecosystem": f.ecosystem, "installed": f.installed, "fixed": f.fixed,
                   "severity": f.severity, "score": f.score})
        })
        .collect();
    json!({
        "status": "scanned",
        "image": report.image,
        "image_id": report.image_id,
        "os_release": report.os_release,
        "counts": report.counts,
        "findings": findings,
        "hygiene": report.hygiene.iter().map(|h| json!({"check": h.check, "level": h.level})).collect::<Vec<_>>(),
        "db_generation": report.db_generation,
        "db_advisories": report.db_advisories,
    })
}

fn short_id(id: &str) -> &str {
    let id = id.strip_prefix("sha256:").unwrap_or(id);
    &id[..id.len().min(12)]
}

/// Reads the advisories under `root` and sends their rows in batches; returns (imported, refused, first problems)
/// or why the path cannot be read at all.
fn read_advisories(
    root: &Path,
    tx: &tokio::sync::mpsc::Sender<Vec<osv::Row>>,
) -> std::result::Result<(u64, u64, Vec<String>), String> {
    let mut imported = 0u64;
    let mut skipped = 0u64;
    let mut problems: Vec<String> = Vec::new();
    let mut batch: Vec<osv::Row> = Vec::new();
    let mut take =
        |name: &str, parsed: std::result::Result<Vec<Advisory>, osv::OsvError>, batch: &mut Vec<osv::Row>| {
            match parsed {
                Ok(list) => {
                    for advisory in list {
                        imported += 1;
                        batch.extend(osv::rows(&advisory));
                    }
                }
                Err(e) => {
                    skipped += 1;
                    if problems.len() < MAX_IMPORT_PROBLEMS {
                        problems.push(e.to_string());
                    }
                    let _ = name;
                }
            }
            if batch.len() >= IMPORT_BATCH {
                let _ = tx.blocking_send(std::mem::take(batch));
            }
        };
    let mut files = Vec::new();
    if root.is_dir() {
        let mut dirs = vec![(root.to_path_buf(), 0)];
        while let Some((dir, depth)) = dirs.pop() {
            let entries = std::fs::read_dir(&dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
            for entry in entries.flatten() {
                let path = entry.path();
                if path.is_dir() && depth < 8 {
                    dirs.push((path, depth + 1));
                } else if path.extension().is_some_and(|e| e == "json" || e == "zip") {
                    files.push(path);
                }
            }
        }
        files.sort();
    } else {
        files.push(root.to_path_buf());
    }
    for file in files {
        let name = file.display().to_string();
        if file.extension().is_some_and(|e| e == "zip") {
            let handle = std::fs::File::open(&file).map_err(|e| format!("cannot read {name}: {e}"))?;
            osv::read_zip(handle, |entry, parsed| take(&format!("{name}:{entry}"), parsed, &mut batch))
                .map_err(|e| format!("{name}: {e}"))?;
        } else {
            let size = std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
            if size > osv::MAX_DOCUMENT_BYTES {
                take(&name, Err(osv::OsvError::TooLarge { name: name.clone(), size }), &mut batch);
                continue;
            }
            let data = std::fs::read(&file).map_err(|e| format!("cannot read {name}: {e}"))?;
            take(&name, osv::parse_document(&name, &data), &mut batch);
        }
    }
    if !batch.is_empty() {
        let _ = tx.blocking_send(batch);
    }
    Ok((imported, skipped, problems))
}

/// Where Trivy is: `CRANE_TRIVY`, else `trivy` on PATH.
fn trivy_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("CRANE_TRIVY").map(PathBuf::from).filter(|p| p.is_file()) {
        return Some(p);
    }
    std::env::split_paths(&std::env::var_os("PATH")?).map(|d| d.join("trivy")).find(|p| p.is_file())
}

/// Runs Trivy on the image (offline: it uses the database it has) and compares.
async fn run_trivy(image: &str, findings: &[osv::Finding]) -> TrivyComparison {
    let Some(path) = trivy_path() else {
        return TrivyComparison {
            note: "trivy is not on PATH (nor at CRANE_TRIVY); Crane's own findings are shown".to_string(),
            ..TrivyComparison::default()
        };
    };
    let run = tokio::process::Command::new(&path)
        .args(["image", "--quiet", "--format", "json", "--skip-db-update", image])
        .kill_on_drop(true)
        .output();
    let output = match tokio::time::timeout(Duration::from_secs(120), run).await {
        Err(_) => return trivy_note(true, format!("{} did not finish within 120 s", path.display())),
        Ok(Err(e)) => return trivy_note(true, format!("cannot run {}: {e}", path.display())),
        Ok(Ok(output)) => output,
    };
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let line = stderr.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("no message");
        return trivy_note(
            true,
            format!("trivy failed ({}): {}", output.status, crane_core::text::truncate(line, 300)),
        );
    }
    match crane_scan::trivy::parse_report(&output.stdout) {
        Ok(theirs) => {
            let c = crane_scan::trivy::compare(findings, &theirs);
            let join = |v: Vec<(String, String)>| v.into_iter().map(|(id, p)| format!("{id} / {p}")).collect();
            TrivyComparison {
                available: true,
                ran: true,
                note: format!("trivy ({}) reported {} vulnerabilities", path.display(), theirs.len()),
                both: join(c.both),
                only_crane: join(c.only_crane),
                only_trivy: join(c.only_trivy),
            }
        }
        Err(e) => trivy_note(true, e),
    }
}

fn trivy_note(available: bool, note: String) -> TrivyComparison {
    TrivyComparison { available, note, ..TrivyComparison::default() }
}
